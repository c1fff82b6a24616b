"""Vector and matrix products built from registered ops through R: PyTorch's ``dot``,
``outer``, ``mv`` and ``addmm`` (its shape checks stay in the front end)."""

from __future__ import annotations

from typing import Any

from .registry import R


def dot(a: Any, b: Any) -> Any:
    """``sum(a * b)`` of two vectors."""
    return R.sum(R.mul(a, b))


def outer(a: Any, b: Any) -> Any:
    """``a[:, None] * b[None, :]``: the (n, m) matrix of products."""
    return R.mul(R.reshape(a, shape=(-1, 1)), R.reshape(b, shape=(1, -1)))


def mv(m: Any, v: Any) -> Any:
    """The matrix-vector product: ``m @ v[:, None]`` as a vector."""
    return R.reshape(R.matmul(m, R.reshape(v, shape=(-1, 1))), shape=(-1,))


def addmm(bias: Any, m1: Any, m2: Any, beta: float = 1.0, alpha: float = 1.0) -> Any:
    """``beta bias + alpha (m1 @ m2)`` (a zero beta ignores ``bias``, NaN included)."""
    product = R.matmul(m1, m2)
    if alpha != 1:
        product = R.mul(product, alpha)
    if beta == 0:
        return product
    return R.add(bias if beta == 1 else R.mul(bias, beta), product)


def addcmul(x: Any, t1: Any, t2: Any, value: float = 1.0) -> Any:
    """``x + value t1 t2``."""
    return R.add(x, R.mul(R.mul(t1, t2), value))


def addcdiv(x: Any, t1: Any, t2: Any, value: float = 1.0) -> Any:
    """``x + value t1 / t2``."""
    return R.add(x, R.mul(R.div(t1, t2), value))
