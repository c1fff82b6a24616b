"""The schedule lines that call a GEMM library (``runtime/blas.py``) instead of numpy.

Two kinds of call, both written into the executor's generated schedule:

* a matmul node given to a provider by the autotuner (``compiler/autotune.py``):
  ``gemm(a, b, out, provider)``, its transpose flags written as ``.T`` views (BLAS reads
  either layout directly); for MKL, when ``out`` and an operand are fixed arena arrays,
  the CBLAS call itself with its arguments worked out once (``g12()``, or ``g12(v4)``
  when one operand, a variable, is read per run): about 6 us less per product here;
* the row-major copy of a weight that many matmuls read transposed (``w_hh^T``, made by
  ``passes.materialize_transposes``): MKL's blocked transposing copy (``blas.transpose_into``)
  instead of numpy's element-by-element one, when the plan runs MKL anyway. A copy is a
  copy: the bits are the same either way.

Example:
    >>> from tapeflow.static.compiler.blas_calls import uses_library
    >>> uses_library({3: "numpy"}), uses_library({3: "mkl"})
    (False, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...runtime import blas
from ...runtime.blas import MKL, NUMPY, gemm, gemm_add, transpose_into


def library_line(ns: dict[str, Any], n: Node, graph: Graph, args: list[str], out: str,
                 providers: Mapping[int, str]) -> str | None:
    """The line that runs call node ``n`` (writing ``out``) in a GEMM library, binding what
    it reads into ``ns``; None when numpy's kernel runs it."""
    provider = providers.get(n.id, NUMPY)
    if provider != NUMPY:
        return gemm_line(ns, n, args, out, provider, graph)
    if n.op != "copy" or not uses_library(providers):
        return None
    return transpose_copy_line(ns, n, graph, args, out)


def uses_library(providers: Mapping[int, str]) -> bool:
    """Whether any matmul of a plan runs a library other than numpy's matmul."""
    return any(p != NUMPY for p in providers.values())


def gemm_line(ns: dict[str, Any], n: Node, args: list[str], out: str, provider: str,
              graph: Graph) -> str:
    """``out = a @ b`` for matmul node ``n`` by ``provider`` (numpy's matmul for a case that
    library does not take: ``blas.gemm``); binds what the line reads into ``ns``. For an
    ``addmm`` node (``c + a @ b``, compiler/gemm_acc.py): ``out`` takes ``c`` (a copy, unless
    the planner gave ``out`` c's own buffer) and the product is added into it
    (``blas.gemm_add``: MKL's GEMM with ``beta = 1``).

    When both operands and ``out`` are fixed arrays (arena buffers, consts: names ``c<id>``),
    MKL's call is worked out once, here: the line calls the CBLAS function with its
    arguments bound (``blas.mkl_call``), about 12 us less per product than checking the
    arrays' layouts and reading their addresses on every call. The same call: the same bits.
    """
    prefix, beta, factors = "", 0.0, n.inputs
    if n.op == "addmm":
        prefix = "" if _same(ns, args[0], out) else f"copyto({out}, {args[0]}); "
        beta, factors, args = 1.0, n.inputs[1:], args[1:]
    flags = [bool(n.attrs.get(f)) for f in ("transpose_a", "transpose_b")]
    a, b = (f"{x}.T" if flag else x for x, flag in zip(args, flags, strict=True))
    fixed = [name.startswith("c") and name in ns for name in args]
    if provider == MKL and out.startswith("c") and out in ns and sum(fixed) >= 1 \
            and ns[out].flags.c_contiguous:
        arrays = [ns[x] if f else None for x, f in zip(args, fixed, strict=True)]
        shapes = [graph[i].shape for i in factors]
        bound = _bound(arrays, shapes, flags, ns[out], beta)
        if bound is not None:
            ns[f"g{n.id}"] = bound
            return prefix + (f"g{n.id}()" if all(fixed)
                             else f"g{n.id}({args[fixed.index(False)]})")
    if beta:
        ns["gemm_add"], ns[f"p{n.id}"] = gemm_add, provider
        return prefix + f"gemm_add({a}, {b}, {out}, p{n.id})"
    ns["gemm"], ns[f"p{n.id}"] = gemm, provider
    return f"gemm({a}, {b}, {out}, p{n.id})"


def _same(ns: dict[str, Any], x: str, y: str) -> bool:
    """Whether names ``x`` and ``y`` are one array: the same name, or fixed arrays of the same
    memory (an addmm the planner wrote over its addend's buffer)."""
    if x == y:
        return True
    a, b = ns.get(x), ns.get(y)
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape
            and a.strides == b.strides and a.ctypes.data == b.ctypes.data)


def _bound(arrays: list[Any], shapes: list[Any], flags: list[bool], out: Any,
           beta: float) -> Any:
    """MKL's call ``out = a @ b + beta out`` with its arguments bound (None when MKL does
    not take it): a ``partial`` when every operand is fixed, else a :class:`_PerRun` for the
    one that is read per run (a variable), laid out as its node's row-major shape."""
    per_run = [k for k, x in enumerate(arrays) if x is None]
    examples = [np.empty(shapes[k], out.dtype) if x is None else x
                for k, x in enumerate(arrays)]
    operands = [x.T if f else x for x, f in zip(examples, flags, strict=True)]
    call = blas.mkl_call(*operands, out, beta) if beta else blas.mkl_call(*operands, out)
    if call is None:
        return None
    if not per_run:
        return partial(call[0], *call[1])
    k = per_run[0]
    return _PerRun(call[0], call[1], 7 + 2 * k, examples[k], flags, arrays, out)


class _PerRun:
    """MKL's call with every argument bound but one operand's address, read on each call;
    an operand laid out otherwise than expected goes to ``blas.gemm``."""

    __slots__ = ("args", "arrays", "example", "flags", "fn", "out", "slot")

    def __init__(self, fn: Any, args: list[Any], slot: int, example: Any, flags: list[bool],
                 arrays: list[Any], out: Any) -> None:
        self.fn, self.args, self.slot, self.flags = fn, args, slot, flags
        self.example = (example.shape, example.strides, example.dtype)
        self.arrays, self.out = arrays, out

    def __call__(self, x: Any) -> None:
        if type(x) is np.ndarray and (x.shape, x.strides, x.dtype) == self.example:
            args = self.args.copy()
            args[self.slot] = x.ctypes.data
            self.fn(*args)
            return
        a, b = (x if y is None else y for y in self.arrays)
        a, b = (a.T if self.flags[0] else a), (b.T if self.flags[1] else b)
        if self.args[11]:  # beta: the product added to what out holds
            gemm_add(a, b, self.out, MKL)
        else:
            gemm(a, b, self.out, MKL)


def transpose_copy_line(ns: dict[str, Any], n: Node, graph: Graph, args: list[str],
                        out: str) -> str | None:
    """The line copying a 2-D ``transpose`` view into ``out`` by ``blas.transpose_into``;
    None when ``n`` is not such a copy."""
    if n.op != "copy" or len(n.inputs) != 1 or n.shape is None or len(n.shape) != 2:
        return None
    source = graph[n.inputs[0]]
    if source.kind != "call" or source.op != "transpose" or source.dtype is not n.dtype:
        return None
    ns["transpose_into"] = transpose_into
    return f"transpose_into({args[0]}, {out})"


__all__ = ["gemm_line", "library_line", "transpose_copy_line", "uses_library"]
