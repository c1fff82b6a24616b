"""Losses, norms, cell updates and helpers built from registered ops through R, shared by
both front ends.

They add no new math: each is a composition of registry ops, written once here so the
static and dynamic versions of a model cannot drift apart. A front end maps its own names
and arguments onto these (``tf.squared_difference``, ``torch.nn.functional.nll_loss``).
"""

from __future__ import annotations

import math
from typing import Any

from . import dtypes as dt
from .registry import R


def square(x: Any) -> Any:
    return R.mul(x, x)


def squared_difference(x: Any, y: Any) -> Any:
    """``(x - y)^2`` per element, with broadcasting (TF1's ``tf.squared_difference``)."""
    return square(R.sub(x, y))


def l2_loss(t: Any) -> Any:
    """``sum(t^2) / 2`` (TF1's ``tf.nn.l2_loss``, the weight-decay term)."""
    return R.mul(R.sum(R.mul(t, t)), 0.5)


def all_true(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Whether every element along ``axis`` is true (nonzero): the minimum of the values as
    bools (PyTorch's ``all``, TF1's ``reduce_all``)."""
    return R.min(R.cast(x, dtype=dt.bool_), axis=axis, keepdims=keepdims)


def any_true(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Whether any element along ``axis`` is true: the maximum of the values as bools."""
    return R.max(R.cast(x, dtype=dt.bool_), axis=axis, keepdims=keepdims)


def mean_squared_error(predictions: Any, labels: Any, reduction: str = "mean") -> Any:
    """(predictions - labels)^2, reduced by mean (default), sum, or not at all ("none")."""
    return reduce_loss(square(R.sub(predictions, labels)), reduction)


def softmax_cross_entropy(logits: Any, labels: Any, axis: int = -1) -> Any:
    """-sum(labels * log_softmax(logits)) along axis: one loss per row (TF1's convention)."""
    return R.neg(R.sum(R.mul(labels, R.log_softmax(logits, axis=axis)), axis=axis))


def sigmoid_cross_entropy(logits: Any, labels: Any) -> Any:
    """Binary cross-entropy of logits x against labels z in [0, 1], per element, in the form
    that cannot overflow: ``max(x, 0) - x z + log(1 + e^-|x|)`` (TF1's
    ``sigmoid_cross_entropy_with_logits``). The two branches are picked with ``x >= 0`` (not
    relu and abs), so the gradient at x = 0 is sigmoid(0) - z, as in TF and PyTorch."""
    non_negative = R.ge(logits, 0.0)
    positive_part = R.where(non_negative, logits, 0.0)
    minus_abs = R.where(non_negative, R.neg(logits), logits)
    return R.add(R.sub(positive_part, R.mul(logits, labels)), R.log1p(R.exp(minus_abs)))


def binary_cross_entropy(probs: Any, targets: Any) -> Any:
    """``-(z log p + (1 - z) log(1 - p))`` of probabilities p against targets z, per element,
    each log clamped at -100 as PyTorch's ``binary_cross_entropy`` does (so p = 0 or 1 gives
    a finite loss)."""
    log_p = R.maximum(R.log(probs), -100.0)
    log_not_p = R.maximum(R.log(R.sub(1.0, probs)), -100.0)
    return R.neg(R.add(R.mul(targets, log_p), R.mul(R.sub(1.0, targets), log_not_p)))


def dropout(x: Any, draws: Any, keep_prob: Any) -> Any:
    """Inverted dropout from uniform draws in [0, 1): ``x / keep_prob`` where ``draws >=
    1 - keep_prob`` (each element kept with probability keep_prob: TF1's ``floor(keep_prob +
    u)`` mask), else 0. ``keep_prob`` may be a tensor (a TF1 placeholder)."""
    threshold = 1.0 - keep_prob if isinstance(keep_prob, (int, float)) else \
        R.sub(1.0, keep_prob)
    return R.where(R.ge(draws, threshold), R.div(x, keep_prob), 0.0)


def lstm_update(c: Any, i: Any, f: Any, g: Any, o: Any,
                activation: Any = None) -> tuple[Any, Any]:
    """One LSTM state update from its gate pre-activations (input i, forget f, cell g,
    output o): ``c' = sigmoid(f) c + sigmoid(i) act(g)``, ``h' = sigmoid(o) act(c')``, with
    ``act`` tanh unless given. Returns ``(h', c')``. PyTorch's ``nn.LSTM`` and TF1's
    ``BasicLSTMCell`` (which adds its ``forget_bias`` to f first) both run it."""
    act = activation or R.tanh
    c_next = R.add(R.mul(R.sigmoid(f), c), R.mul(R.sigmoid(i), act(g)))
    return R.mul(R.sigmoid(o), act(c_next)), c_next


def nll_loss(log_probs: Any, one_hot: Any, reduction: str = "mean") -> Any:
    """Negative log-likelihood ``-sum(one_hot * log_probs)`` over the class axis 1, one per
    row, then reduced (PyTorch's ``nll_loss``; the one-hot rows have log_probs' dtype)."""
    return reduce_loss(R.neg(R.sum(R.mul(log_probs, one_hot), axis=1)), reduction)


def affine(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x W^T + b`` with PyTorch's layout, weight (out_features, in_features)."""
    out = R.matmul(x, weight, transpose_b=True)
    return out if bias is None else R.add(out, bias)


def elman_step(x: Any, h: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None,
               activation: Any = None) -> Any:
    """One Elman RNN step, ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (act tanh unless
    given): PyTorch's ``nn.RNNCell`` and every step of ``nn.RNN``."""
    act = activation or R.tanh
    return act(R.add(affine(x, w_ih, b_ih), affine(h, w_hh, b_hh)))


def glorot_limit(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """The bound of Glorot (Xavier) uniform initialisation, ``gain sqrt(6 / (fan_in +
    fan_out))``: TF1's ``glorot_uniform_initializer`` and PyTorch's ``xavier_uniform_``."""
    return gain * math.sqrt(6.0 / max(1, fan_in + fan_out))


def sparse_softmax_cross_entropy(logits: Any, class_indices: Any) -> Any:
    """Cross-entropy against integer class indices (classes on the last axis): one loss per
    row. One registry op forward and one backward (``sparse_softmax_cross_entropy``)."""
    return R.sparse_softmax_cross_entropy(logits, class_indices)


def moments(x: Any, axis: Any = None, keepdims: bool = False) -> tuple[Any, Any]:
    """The mean and the (population) variance, ``mean((x - mean)^2)``, over ``axis``: TF1's
    ``tf.nn.moments``; PyTorch's ``var`` rescales it by ``n / (n - correction)``."""
    mean = R.mean(x, axis=axis, keepdims=True)
    centered = R.sub(x, mean)
    variance = R.mean(R.mul(centered, centered), axis=axis, keepdims=keepdims)
    return (mean if keepdims else R.mean(x, axis=axis, keepdims=False)), variance


def safe_sqrt(x: Any) -> Any:
    """``sqrt(x)`` where x > 0, else x itself (0 stays 0, NaN stays NaN), with gradient 0
    at 0 where ``sqrt``'s would be infinite (``g / (2 sqrt 0)`` times ``d x = 2 t`` is NaN).
    The inner ``where`` keeps ``sqrt`` away from 0, so neither branch makes a NaN; PyTorch's
    norm backward masks the zero norm the same way."""
    positive = R.gt(x, 0.0)
    return R.where(positive, R.sqrt(R.where(positive, x, 1.0)), x)


def l2_norm(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``sqrt(sum(x^2))`` over ``axis`` (all elements when None), gradient 0 at 0: PyTorch's
    ``Tensor.norm()`` and TF1's ``tf.norm`` / ``clip_by_norm``."""
    return safe_sqrt(R.sum(R.mul(x, x), axis=axis, keepdims=keepdims))


def global_norm(tensors: Any) -> Any:
    """``sqrt(sum of every element squared)`` over several tensors, gradient 0 at 0: the norm
    gradient clipping compares with (TF1's ``global_norm``, PyTorch's 2-norm of
    ``clip_grad_norm_``)."""
    total = None
    for t in tensors:
        squares = R.sum(R.mul(t, t))
        total = squares if total is None else R.add(total, squares)
    if total is None:
        raise ValueError("global_norm: no tensors given")
    return safe_sqrt(total)


def reduce_loss(per_element: Any, reduction: str) -> Any:
    if reduction == "mean":
        return R.mean(per_element)
    if reduction == "sum":
        return R.sum(per_element)
    if reduction == "none":
        return per_element
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def split_indices(size: int, split: int | list[int], axis: int) -> list[tuple[Any, ...]]:
    """Index tuples (for ``getitem``) that cut ``size`` along ``axis`` into pieces.

    ``split`` is a piece size (PyTorch ``split(n)``; the last piece may be smaller) or a
    list of sizes that must add up to ``size``. Each piece is a view of the input.
    """
    from .ops_index import _axis_index

    if isinstance(split, int):
        if split <= 0:
            raise ValueError(f"split size must be positive, got {split}")
        sizes = [min(split, size - start) for start in range(0, size, split)]
    else:
        sizes = [int(s) for s in split]
        if sum(sizes) != size:
            raise ValueError(
                f"split sizes {sizes} add up to {sum(sizes)}, but the dimension has size {size}"
            )
    pieces, start = [], 0
    for s in sizes:
        pieces.append(_axis_index(axis, slice(start, start + s)))
        start += s
    return pieces
