"""The schedule lines that call a GEMM library (``runtime/blas.py``) instead of numpy.

Two kinds of call, both written into the executor's generated schedule:

* a matmul node given to a provider by the autotuner (``compiler/autotune.py``):
  ``gemm(a, b, out, provider)``, its transpose flags written as ``.T`` views (BLAS reads
  either layout directly);
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
from typing import Any

from ...graphs.ir import Graph, Node
from ...runtime.blas import NUMPY, gemm, transpose_into


def library_line(ns: dict[str, Any], n: Node, graph: Graph, args: list[str], out: str,
                 providers: Mapping[int, str]) -> str | None:
    """The line that runs call node ``n`` (writing ``out``) in a GEMM library, binding what
    it reads into ``ns``; None when numpy's kernel runs it."""
    provider = providers.get(n.id, NUMPY)
    if provider != NUMPY:
        return gemm_line(ns, n, args, out, provider)
    if n.op != "copy" or not uses_library(providers):
        return None
    return transpose_copy_line(ns, n, graph, args, out)


def uses_library(providers: Mapping[int, str]) -> bool:
    """Whether any matmul of a plan runs a library other than numpy's matmul."""
    return any(p != NUMPY for p in providers.values())


def gemm_line(ns: dict[str, Any], n: Node, args: list[str], out: str, provider: str) -> str:
    """``out = a @ b`` for matmul node ``n`` by ``provider`` (numpy's matmul for a case that
    library does not take: ``blas.gemm``); binds what the line reads into ``ns``."""
    a, b = (f"{x}.T" if n.attrs.get(flag) else x
            for x, flag in zip(args, ("transpose_a", "transpose_b"), strict=True))
    ns["gemm"], ns[f"p{n.id}"] = gemm, provider
    return f"gemm({a}, {b}, {out}, p{n.id})"


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
