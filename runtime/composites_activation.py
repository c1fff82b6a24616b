"""Activations built from registered ops through R, shared by ``torch.nn.functional`` /
``torch.nn`` and ``tf.nn``: each formula is written once here. Gradients at the kinks follow
PyTorch (the ELU family takes the left branch's slope at 0, hardtanh and relu6 pass no
gradient at their bounds, as TF1's relu6 does)."""

from __future__ import annotations

import math
from typing import Any

from .registry import R

#: SELU's constants (Klambauer et al. 2017), as PyTorch and TF1 write them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def softplus(x: Any, beta: float = 1.0, threshold: float = math.inf) -> Any:
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold`` (PyTorch 20; TF1 none)."""
    return R.softplus(x, beta=float(beta), threshold=float(threshold))


def elu(x: Any, alpha: float = 1.0) -> Any:
    """``x`` for x > 0, else ``alpha (exp(x) - 1)``. The clamp keeps ``exp`` of a large x,
    whose gradient the ``where`` drops, from turning into inf * 0 = NaN."""
    negative = R.mul(R.expm1(R.clamp(x, max=0.0)), alpha)
    return R.where(R.gt(x, 0.0), x, negative)


def selu(x: Any) -> Any:
    """``scale * elu(x, alpha)`` with SELU's fixed constants."""
    return R.mul(elu(x, SELU_ALPHA), SELU_SCALE)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` for x > 0, else ``negative_slope x`` (PyTorch's default 0.01, TF1's 0.2)."""
    return R.where(R.gt(x, 0.0), x, R.mul(x, negative_slope))


def softsign(x: Any) -> Any:
    """``x / (1 + |x|)``."""
    return R.div(x, R.add(R.abs(x), 1.0))


def gelu(x: Any, approximate: str = "none") -> Any:
    """``x Phi(x)``: exact, ``0.5 x (1 + erf(x / sqrt 2))``, or with ``approximate='tanh'``
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if approximate == "tanh":
        inner = R.mul(R.add(x, R.mul(R.mul(R.mul(x, x), x), 0.044715)), math.sqrt(2 / math.pi))
        return R.mul(R.mul(x, 0.5), R.add(R.tanh(inner), 1.0))
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return R.mul(R.mul(x, 0.5), R.add(R.erf(R.mul(x, 1 / math.sqrt(2))), 1.0))


def log_sigmoid(x: Any) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow."""
    return R.neg(R.softplus(R.neg(x)))


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """``x`` clamped to [min_val, max_val]; gradient 1 strictly inside, 0 elsewhere (the
    bounds included, as PyTorch's hardtanh and TF1's relu6 give)."""
    inside = R.logical_and(R.gt(x, min_val), R.lt(x, max_val))
    return R.where(inside, x, R.clamp(R.stop_gradient(x), min=min_val, max=max_val))


def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``: hardtanh between 0 and 6."""
    return hardtanh(x, 0.0, 6.0)
