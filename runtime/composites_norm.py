"""Normalisation built from registered ops through R, shared by PyTorch's ``LayerNorm`` /
``BatchNorm1d`` and TF1's ``tf.layers.batch_normalization``: standardise with a mean and a
(population) variance, then scale and shift; and the running averages of the statistics.
"""

from __future__ import annotations

from typing import Any

from .composites import moments
from .registry import R


def normalize(x: Any, mean: Any, var: Any, eps: float) -> Any:
    """``(x - mean) / sqrt(var + eps)``."""
    return R.div(R.sub(x, mean), R.sqrt(R.add(var, eps)))


def scale_shift(y: Any, weight: Any = None, bias: Any = None) -> Any:
    """``y weight + bias`` (either may be absent)."""
    if weight is not None:
        y = R.mul(y, weight)
    return y if bias is None else R.add(y, bias)


def layer_norm(x: Any, axes: tuple[int, ...], weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:
    """Each sample standardised over ``axes`` (the trailing ones), then scaled and shifted
    per element (PyTorch's ``layer_norm``)."""
    mean, var = moments(x, axis=axes, keepdims=True)
    return scale_shift(normalize(x, mean, var, eps), weight, bias)


def batch_moments(x: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    """The batch's mean and population variance over ``axes``, kept broadcastable."""
    return moments(x, axis=axes, keepdims=True)


def running_average(running: Any, value: Any, momentum: float) -> Any:
    """``(1 - momentum) running + momentum value``: PyTorch's running statistics (TF1's
    ``moving_mean`` uses ``momentum`` the other way round: pass ``1 - momentum``)."""
    return R.add(R.mul(running, 1.0 - momentum), R.mul(value, momentum))
