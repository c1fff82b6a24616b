"""Activation ops with a kernel of their own: ``softplus`` (numerically stable, PyTorch's
``beta``/``threshold``) and ``erf`` (for the exact GELU). The other activations are
composites of registered ops (``runtime/composites_activation.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import dtypes as dt
from .registry import R, Spec, register


def _float_like(x: Spec, **_: Any) -> Spec:
    return Spec(x.shape, x.dtype if x.dtype.is_floating else dt.DEFAULT_FLOAT)


def _softplus(xp: Any, x: Any, out: Any = None, beta: float = 1.0,
              threshold: float = math.inf) -> Any:
    # log(1 + exp(beta x)) / beta as logaddexp(0, beta x): no overflow for large beta x;
    # above the threshold the input itself (PyTorch's linear region)
    scaled = xp.multiply(x, beta)
    result = xp.logaddexp(0, scaled)
    if beta != 1.0:
        result /= beta
    if threshold != math.inf:
        result = xp.where(scaled > threshold, x, result)
    result = result.astype(x.dtype, copy=False)
    if out is None:
        return result
    xp.copyto(out, result)
    return out


def _softplus_vjp(g: Any, ans: Any, x: Any, beta: float = 1.0,
                  threshold: float = math.inf) -> Any:
    # d softplus = g sigmoid(beta x), and g itself above the threshold
    scaled = R.mul(x, beta)
    smooth = R.mul(g, R.sigmoid(scaled))
    if threshold == math.inf:
        return smooth
    return R.where(R.gt(scaled, threshold), g, smooth)


register(
    "softplus",
    kernel=_softplus,
    infer=_float_like,
    vjp=[_softplus_vjp],
    saves=("x",),
    promote="float",
    doc="log(1 + exp(beta x)) / beta (x above the threshold); d = g sigmoid(beta x)",
)


def _erf(xp: Any, x: Any, out: Any = None) -> Any:
    # numpy has no erf ufunc: math.erf per element (exact to double); cupy has its own
    if xp is np:
        result = np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype, copy=False)
    else:  # pragma: no cover (GPU only)
        from cupyx.scipy.special import erf

        result = erf(x)
    if out is None:
        return result
    xp.copyto(out, result)
    return out


register(
    "erf",
    kernel=_erf,
    infer=_float_like,
    vjp=[lambda g, ans, x: R.mul(g, R.mul(R.exp(R.neg(R.mul(x, x))), 2.0 / math.sqrt(math.pi)))],
    saves=("x",),
    promote="float",
    cupy="numpy has no erf ufunc (math.erf per element); cupy's is cupyx.scipy.special.erf",
    doc="the error function; d = g 2/sqrt(pi) exp(-x^2)",
)
