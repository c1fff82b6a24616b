"""``addmm``: ``c + op(a) @ op(b)`` as one node, so a GEMM library may sum into ``c``.

BLAS's GEMM computes ``C = alpha A B + beta C``: with ``beta = 1`` a product is added to
what ``C`` already holds while the product is written, without a pass of its own over
the result. The static compiler (``static/compiler/gemm_acc.py``) makes this op of an
``add`` whose other operand is a matmul read by nothing else (a weight gradient summed
over blocks of steps); the executor then writes it as one library call into the addend's
buffer (``compiler/blas_calls.py``). The kernel here is the reference: the product, then
the sum, exactly as ``add(c, matmul(a, b))`` computed it; a library that sums into ``c``
rounds otherwise, so the compiler makes the op only outside ``exact`` mode.

The op has no gradient: the compiler makes it after the gradients were built (as it makes
``fused``).

Example:
    >>> import numpy as np
    >>> from tapeflow.runtime import get
    >>> get("addmm").kernel(np, np.ones((2, 2)), np.eye(2), np.full((2, 2), 3.0)).tolist()
    [[4.0, 4.0], [4.0, 4.0]]
"""

from __future__ import annotations

from typing import Any

from .registry import REGISTRY, ShapeError, Spec, format_shape, register
from .shapes import broadcast


def _addmm(xp: Any, c: Any, a: Any, b: Any, out: Any = None, transpose_a: bool = False,
           transpose_b: bool = False) -> Any:
    # add(c, matmul(a, b)) by those two ops' own kernels, in that order (out may be c itself;
    # c may broadcast): the bits of the two nodes it stands for
    product = REGISTRY["matmul"].kernel(xp, a, b, transpose_a=transpose_a,
                                        transpose_b=transpose_b)
    return REGISTRY["add"].kernel(xp, c, product, out=out)


def _addmm_infer(c: Spec, a: Spec, b: Spec, transpose_a: bool = False,
                 transpose_b: bool = False) -> Spec:
    product = REGISTRY["matmul"].infer(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    if c.shape is not None and product.shape is not None:
        try:
            fits = broadcast("addmm", c.shape, product.shape) == product.shape
        except ShapeError:
            fits = False
        if not fits:
            raise ShapeError(f"addmm: the addend's shape {format_shape(c.shape)} does not "
                             f"broadcast to the product's {format_shape(product.shape)}")
    if c.dtype is not product.dtype:
        raise ShapeError(f"addmm: the addend is {c.dtype.name}, the product {product.dtype.name}")
    return product


register(
    "addmm",
    kernel=_addmm,
    infer=_addmm_infer,
    arity=3,
    kind="linalg",
    inplace=True,  # the sum reads each element of c before it writes it
    doc="c + op(a) @ op(b) (made by the static compiler's gemm_acc pass; no gradient)",
)
