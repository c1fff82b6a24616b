"""Shortcuts in kernels and gradient rules give the bits of the longer forms they replace:
pow's rule for x ** 2 (no x ** 1 kernel), sigmoid allocating by its first product, and
mean's gradient dividing straight into the broadcast result."""

from __future__ import annotations

import numpy as np
import pytest
from tapeflow.runtime import R, get

DTYPES = (np.float32, np.float64)


def _data(dtype, shape=(5, 7)):
    rng = np.random.default_rng(3)
    values = rng.standard_normal(shape) * np.exp(rng.uniform(-30, 30, shape))
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [2, 2.0])
def test_pow_rule_for_a_square_matches_the_general_form(dtype, exponent):
    x, g = _data(dtype), _data(dtype)[::-1].copy()
    rule = get("pow").vjps[0]
    got = rule(g, x ** exponent, x, exponent)
    longer = g * (exponent * np.power(x, exponent - 1))  # the rule before the shortcut
    assert got.dtype == x.dtype
    assert got.tobytes() == longer.tobytes()


@pytest.mark.parametrize("exponent", [3, 0.5, -1])
def test_pow_rule_other_exponents_still_raise_x(exponent):
    x = np.abs(_data(np.float64)) + 0.5
    g = np.ones_like(x)
    got = get("pow").vjps[0](g, x ** exponent, x, exponent)
    assert got.tobytes() == (g * (exponent * np.power(x, exponent - 1))).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 8), (3,), ()])
def test_sigmoid_kernel_bits(dtype, shape):
    x = np.asarray(_data(dtype, shape) if shape else dtype(0.75))
    half = np.multiply(x, 0.5, out=np.empty_like(x))
    expected = (np.tanh(half, out=half) + 1) * 0.5
    got = R.sigmoid(x)
    assert got.shape == x.shape and got.dtype == x.dtype
    assert got.tobytes() == np.asarray(expected, dtype).tobytes()
    out = np.empty_like(x)
    assert get("sigmoid").kernel(np, x, out=out) is out
    assert out.tobytes() == got.tobytes()


def test_sigmoid_of_a_strided_view():
    x = _data(np.float32, (6, 8))[:, ::2].T
    assert R.sigmoid(x).tobytes() == R.sigmoid(x.copy()).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (0, True)])
def test_mean_gradient_divides_into_the_broadcast_result(dtype, axis, keepdims):
    like = _data(dtype, (3, 5))
    g = np.asarray(like.mean(axis=axis, keepdims=keepdims) * dtype(3))
    got = R.unreduce(g, like, axis=axis, keepdims=keepdims, mean=True)
    count = like.size if axis is None else like.shape[axis]
    shaped = g if axis is None or keepdims else np.expand_dims(g, axis)
    expected = np.broadcast_to(np.asarray(shaped / count), like.shape)
    assert got.shape == like.shape and got.dtype == like.dtype
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()
    planned = get("unreduce").kernel(np, g, like, out=np.empty_like(like), axis=axis,
                                     keepdims=keepdims, mean=True)
    assert planned.tobytes() == got.tobytes()
