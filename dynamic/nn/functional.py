"""``torch.nn.functional``: layers and losses as functions, built from registry ops.

The losses are the runtime's shared composites (``runtime.composites``), the same
functions static mode uses, so the two modes cannot compute different losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...runtime import composites
from ...runtime import dtypes as dt
from ..dispatch import apply, is_tracing
from ..tensor import Tensor
from .functional_more import __all__ as _more_names
from .functional_more import (  # noqa: F401  (activations and losses, issue 21)
    cosine_similarity,
    elu,
    gelu,
    hardtanh,
    huber_loss,
    kl_div,
    l1_loss,
    leaky_relu,
    legacy_reduction,
    logsigmoid,
    mse_loss,
    nll_loss,
    relu6,
    selu,
    smooth_l1_loss,
    softplus,
    softsign,
)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` with PyTorch's layout: weight is (out_features, in_features).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.nn.functional.linear(torch.ones(1, 2), torch.ones(3, 2)).shape
        torch.Size([1, 3])
    """
    _check_linear(input, weight)
    return composites.affine(input, weight, bias)


def _check_linear(input: Tensor, weight: Tensor) -> None:  # noqa: A002
    """PyTorch's error for an input whose last axis does not fit a (out, in) weight."""
    if weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, input.shape))} and "
                           f"{'x'.join(map(str, weight.shape[::-1]))})")


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return apply("relu", input)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return apply("sigmoid", input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return apply("tanh", input)


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return apply("softmax", input, axis=dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return apply("log_softmax", input, axis=dim)


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        raise RuntimeError(f"{name}: the input of shape {list(input.shape)} and the target of "
                           f"shape {list(target.shape)} must have the same shape")


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Softmax cross-entropy of logits (N, C) against class indices (N,) or probabilities.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> logits = torch.zeros(2, 4)
        >>> round(torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).item(), 4)
        1.3863
    """
    labels, x = target._array, getattr(input, "_array", input)  # (input may be an array)
    if x.ndim == 1 and labels.ndim == 0 and labels.dtype.kind in "iu":
        # unbatched: (C,) logits and one class are a batch of one, as PyTorch takes them
        loss = cross_entropy(apply("reshape", input, shape=(1, x.shape[0])),
                             apply("reshape", target, shape=(1,)), reduction)
        return apply("reshape", loss, shape=()) if reduction == "none" else loss
    if labels.dtype.kind in "iu":
        shape = x.shape
        if labels.ndim != x.ndim - 1 or labels.shape != shape[:1] + shape[2:]:
            raise RuntimeError(f"cross_entropy: expected target of shape {list(shape[:1])}"
                               f" for input of shape {list(shape)}, got "
                               f"{list(labels.shape)}")
        logits = input if x.ndim == 2 else apply("transpose", input, axes=_class_last(input))
        if type(labels) is not np.ndarray or type(x) is not np.ndarray:
            bad = _bad_class(labels, shape)  # (the op reads no labels on cupy: NaN rows there)
            if bad is not None:
                raise IndexError(f"Target {bad} is out of bounds.")
            per_row = composites.sparse_softmax_cross_entropy(logits, target)
        else:
            # the op's kernel checks the labels on numpy: PyTorch's error only once it failed
            # (a second check before it took 3 us of the loss's 20)
            try:
                per_row = composites.sparse_softmax_cross_entropy(logits, target)
            except RuntimeError:
                bad = _bad_class(labels, shape)
                if bad is None:
                    raise
                raise IndexError(f"Target {bad} is out of bounds.") from None
    else:
        _check_same_shape("cross_entropy", input, target)
        per_row = composites.softmax_cross_entropy(input, target, axis=1 if input.ndim > 1 else 0)
    return composites.reduce_loss(per_row, reduction)


def _bad_class(labels: Any, shape: tuple[int, ...]) -> int | None:
    """A class index outside ``[0, C)`` of logits of ``shape`` (None: all are inside)."""
    if not labels.size or is_tracing():  # a traced target has no values to check
        return None
    num_classes = shape[1] if len(shape) > 1 else shape[0]
    low, high = int(labels.min()), int(labels.max())
    if high >= num_classes:
        return high
    return low if low < 0 else None


def _class_last(x: Tensor) -> tuple[int, ...]:
    # (N, C, d1, ...) -> (N, d1, ..., C): the class axis last, where the composite wants it
    return (0, *range(2, x.ndim), 1)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits against targets in [0, 1], without overflow for any
    logit (the shared composite ``sigmoid_cross_entropy``), times ``weight`` if given.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> x = torch.tensor([0.0, 2.0])
        >>> round(torch.nn.functional.binary_cross_entropy_with_logits(
        ...     x, torch.tensor([1.0, 0.0])).item(), 4)
        1.41
    """
    if pos_weight is not None:
        raise NotImplementedError("binary_cross_entropy_with_logits: pos_weight is not "
                                  "supported; weight the loss per element with weight=")
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    per = composites.sigmoid_cross_entropy(input, target)
    return composites.reduce_loss(per if weight is None else apply("mul", per, weight),
                                  reduction)


def binary_cross_entropy(input: Tensor, target: Tensor,  # noqa: A002
                         weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """``-(z log p + (1 - z) log(1 - p))`` of probabilities p against targets z, each log
    clamped at -100 as in PyTorch (so p = 0 or 1 gives a finite loss)."""
    _check_same_shape("binary_cross_entropy", input, target)
    if input.numel() and not is_tracing():
        values = input._array  # (read directly: a check, not an op to record)
        if not (float(values.min()) >= 0.0 and float(values.max()) <= 1.0):
            raise RuntimeError("all elements of input should be between 0 and 1")
    with np.errstate(divide="ignore"):  # log(0) = -inf is expected: the composite clamps it
        per = composites.binary_cross_entropy(input, target)
    return composites.reduce_loss(per if weight is None else apply("mul", per, weight),
                                  reduction)


def embedding(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """Rows of ``weight`` at the integer indices in ``input`` (an embedding lookup)."""
    if not input.dtype.is_integer:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {input.type()} instead")
    return apply("take", weight, input, axis=0, label="EmbeddingBackward0")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows for class indices (``num_classes=-1``: max index + 1)."""
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1
    return apply("one_hot", tensor, depth=num_classes, dtype=dt.int64)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zeroes each element with probability ``p`` and scales the rest by 1/(1-p)."""
    if not training or p == 0:
        return input
    from ..creation import rand

    draws = rand(tuple(input.shape), dtype=input.dtype, device=input.device)
    return composites.dropout(input, draws, 1.0 - p)


from .norm import batch_norm, layer_norm  # noqa: E402, F401  (F.batch_norm, F.layer_norm)

#: the public names: those defined here and the activations and losses of functional_more
__all__ = sorted({n for n, v in list(globals().items())
                  if not n.startswith("_") and getattr(v, "__module__", None) == __name__}
                 | set(_more_names) | {"batch_norm", "layer_norm"})


def __getattr__(name: str) -> object:
    """``torch.nn.functional.<name>`` that tapeflow lacks: an error naming close names."""
    from ..unsupported import miss

    raise miss("torch.nn.functional", name)
