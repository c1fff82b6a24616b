"""More of ``torch.nn.functional``: activations (softplus, ELU, SELU, leaky ReLU, softsign,
GELU, log-sigmoid, hardtanh, relu6) and losses (L1, smooth L1, Huber, weighted NLL, KL
divergence, cosine similarity), with PyTorch's argument names and its legacy
``size_average``/``reduce`` and ``reduction='elementwise_mean'`` (with PyTorch's warnings).

The math is the runtime's (``runtime/composites_activation.py``,
``runtime/composites_losses.py``), the same functions ``tf.nn`` and ``tf.losses`` call.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...runtime import composites
from ...runtime import composites_activation as act
from ...runtime import composites_losses as losses
from ..tensor import Tensor

__all__ = ["cosine_similarity", "elu", "gelu", "hardtanh", "huber_loss",
           "kl_div", "l1_loss", "leaky_relu", "logsigmoid", "mse_loss",
           "nll_loss", "relu6", "selu", "smooth_l1_loss", "softplus", "softsign"]


def legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """The reduction PyTorch uses given its legacy arguments (and its deprecation warnings).

    Example:
        >>> legacy_reduction(None, None, "sum")
        'sum'
    """
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
        return reduction
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use "
                      "reduction='mean' instead.", UserWarning, stacklevel=3)
        return "mean"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _inplace(input: Tensor, result: Tensor, inplace: bool) -> Tensor:  # noqa: A002
    # F.elu(x, inplace=True): the result written into x (recorded as a copy, as PyTorch's
    # in-place activations are recorded on x)
    return input.copy_(result) if inplace else result


# ---- activations ------------------------------------------------------------------------


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, and x itself where ``beta x > threshold``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> round(torch.nn.functional.softplus(torch.tensor(0.0)).item(), 4)
        0.6931
    """
    return act.softplus(input, beta, threshold)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    return _inplace(input, act.elu(input, alpha), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return _inplace(input, act.selu(input), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    return _inplace(input, act.leaky_relu(input, negative_slope), inplace)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    return act.softsign(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    return act.gelu(input, approximate)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return act.log_sigmoid(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    return _inplace(input, act.hardtanh(input, min_val, max_val), inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return _inplace(input, act.relu6(input), inplace)


# ---- losses -----------------------------------------------------------------------------


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", UserWarning,
                      stacklevel=3)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
             reduce: Any = None, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error (``reduction='mean'|'sum'|'none'``, or the legacy arguments)."""
    from .functional import _check_same_shape

    _check_same_shape("mse_loss", input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    return composites.mean_squared_error(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
            reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|`` (or summed, or per element)."""
    _same_shape("l1_loss", input, target)
    return losses.l1_loss(input, target, legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``d = |input - target| < beta``, else ``d - 0.5 beta``."""
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    reduction = legacy_reduction(size_average, reduce, reduction)
    return composites.reduce_loss(losses.smooth_l1(input, target, beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Any = None) -> Tensor:
    """``0.5 d^2`` where ``d = |input - target| < delta``, else ``delta (d - 0.5 delta)``."""
    _same_shape("huber_loss", input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    reduction = legacy_reduction(None, None, reduction)
    return composites.reduce_loss(losses.huber(input, target, delta), reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,), with
    optional class ``weight`` (C,) and an ``ignore_index`` that contributes nothing."""
    from .functional import one_hot

    reduction = legacy_reduction(size_average, reduce, reduction)
    classes = input.shape[1]
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes "
                           f"or no classes but got weight tensor of shape: {list(weight.shape)}")
    kept = target != ignore_index
    bad = target[kept & ((target < 0) | (target >= classes))]
    if bad.numel():
        raise IndexError(f"Target {int(bad[0].item())} is out of bounds.")
    rows = one_hot(target * kept.to(target.dtype), classes).to(input.dtype)
    rows = rows * kept.unsqueeze(1).to(input.dtype)
    if weight is None and bool(kept.all()):  # the plain case: the composite without weights
        return composites.nll_loss(input, rows, reduction)
    return losses.weighted_nll_loss(input, rows, weight, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None,  # noqa: A002
           reduce: Any = None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence of the log-probabilities ``input`` from ``target`` (probabilities, or
    log-probabilities with ``log_target``); ``reduction='batchmean'`` is the true KL."""
    if reduction == "batchmean":
        return losses.kl_div(input, target, "batchmean", log_target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size.'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.'mean' will be changed to "
                      "behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return losses.kl_div(input, target, reduction, log_target)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> a = torch.tensor([[1.0, 0.0]]); b = torch.tensor([[1.0, 1.0]])
        >>> round(torch.nn.functional.cosine_similarity(a, b).item(), 4)
        0.7071
    """
    return losses.cosine_similarity(x1, x2, dim, eps)

