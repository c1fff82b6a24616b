"""GEMM autotuning: which BLAS library runs each matmul node, chosen by timing at compile time.

A static graph knows every product's shapes before it runs, so the compiler can try each
installed GEMM library (``runtime/blas.py``: numpy's OpenBLAS, MKL) on each matmul node's
shapes and keep the fastest, as cuBLAS-era autotuners (and XLA's GEMM autotuner) do. Which
library wins depends on the shape and the machine: on an unrolled RNN, MKL can be well
ahead on the thin weight-gradient products and level on the large merged ones.

:func:`autotune` is a plain function of the scheduled graph: for each 2-D floating-point
``matmul`` node it makes operands of the node's shapes, dtype and transpose flags (stored
row-major, read transposed as the flags say: the layouts the kernels get), times every
provider a few times (``runtime.blas.fastest``) and returns ``{node id: provider}``. Nodes
with equal (shapes, layout, dtype) are timed once: the 50 ``h @ w_hh`` of an unrolled
50-step RNN cost one timing (the choice is remembered for the process, as dynamic mode's
is). An ``addmm`` (a product summed into its addend, made by ``gemm_acc.py``) is MKL's
without timing: numpy's matmul cannot sum into the addend. Everything else (batched
products, integer ones, nodes of unknown shape) keeps numpy's.

The remembered choices are the process's, not a Session's: a later Session of the same
graph reads them, and ``gemm_acc`` decides from them which adds it folds into products, so
the graph it compiles can differ from an earlier process's (results to rounding; never
under ``exact``). The cache starts over past ``runtime.blas.CACHE_LIMIT`` kinds of product,
after which a shape is timed again and may go the other way.

The choice lives in the memory plan (``Plan.providers``), so it needs ``plan_memory`` on
(the default; unplanned runs use numpy's matmul). A while loop's body is compiled with the
same options, so its products are tuned too (recorded in the body's own plan).

The choice changes only which library sums each product, so results equal numpy's to
rounding, not bit for bit; ``CompileOptions(blas="numpy")`` (the default) and ``exact=True``
never time anything and run numpy's matmul everywhere.

Example:
    >>> from tapeflow.static.compiler.autotune import autotune
    >>> # providers = autotune(graph, "auto")  # {node id: "numpy" | "mkl"}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...runtime import blas
from .lowering import concrete


def factors(n: Node) -> tuple[int, ...]:
    """The ids of the two matrices a product node multiplies: a matmul's inputs, an
    ``addmm``'s last two (its first is the addend, compiler/gemm_acc.py)."""
    return n.inputs[1:] if n.op == "addmm" else n.inputs


def _tunable(n: Node, graph: Graph) -> bool:
    """A 2-D float32/float64 matmul (or addmm) of known shapes (what a BLAS provider takes)."""
    if n.kind != "call" or n.op not in ("matmul", "addmm") or not concrete(n.shape):
        return False
    if len(n.shape) != 2:  # type: ignore[arg-type]
        return False
    inputs = [graph[i] for i in factors(n)]
    return all(x.shape is not None and len(x.shape) == 2 and concrete(x.shape)
               and x.dtype is n.dtype for x in inputs) and n.dtype.np in (np.float32, np.float64)


def operands(n: Node, graph: Graph) -> tuple[Any, Any, Any]:
    """Arrays laid out as the kernel gets this node's operands: stored as the input nodes'
    shapes, read transposed where the node's flags say, and an output buffer."""
    rng = np.random.default_rng(0)
    dtype = n.dtype.np
    a, b = (rng.uniform(-1.0, 1.0, graph[i].shape).astype(dtype) for i in factors(n))
    if n.attrs.get("transpose_a"):
        a = a.T
    if n.attrs.get("transpose_b"):
        b = b.T
    return a, b, np.empty(n.shape, dtype)  # type: ignore[call-overload]


def autotune(graph: Graph, setting: str) -> dict[int, str]:
    """The provider of each matmul node of ``graph`` for a ``CompileOptions.blas`` setting:
    ``"numpy"`` gives ``{}`` (every product numpy's), a provider name gives it to every
    tunable node, ``"auto"`` times the installed providers per (shapes, layout, dtype).

    Example:
        >>> from tapeflow.graphs import Graph
        >>> autotune(Graph((), ()), "auto")
        {}
    """
    blas.check_name(setting)
    if setting == blas.NUMPY:
        return {}
    chosen: dict[int, str] = {}
    timed: dict[tuple[Any, ...], str] = {}  # (shapes, flags, dtype) -> provider
    for n in graph.nodes:
        if not _tunable(n, graph):
            continue
        if setting != "auto":
            chosen[n.id] = setting
            continue
        if n.op == "addmm" and blas.MKL in blas.available():
            chosen[n.id] = blas.MKL  # (made where MKL summing into the addend pays: gemm_acc)
            continue
        key = (*(graph[i].shape for i in factors(n)), bool(n.attrs.get("transpose_a")),
               bool(n.attrs.get("transpose_b")), n.dtype.name)
        if key not in timed:
            timed[key] = blas.choose(*operands(n, graph))
        chosen[n.id] = timed[key]
    return chosen


@dataclass(frozen=True)
class Choice:
    """The matmul nodes of one (shapes, layout, dtype) and the library chosen for them.

    ``m, k, n``: the product is (m x k) @ (k x n); ``transposed``: which operands the
    kernel reads transposed; ``nodes``: the node ids, in schedule order; ``seconds``: each
    library's time per call when the choice was made (``{}`` when nothing was timed);
    ``provider``: the library that runs them.
    """

    m: int
    k: int
    n: int
    transposed: tuple[bool, bool]
    dtype: str
    nodes: tuple[int, ...]
    seconds: Mapping[str, float]
    provider: str

    @property
    def flops(self) -> int:
        """Floating-point operations of one call: ``2 m k n``."""
        return 2 * self.m * self.k * self.n


def choices(graph: Graph, providers: Mapping[int, str]) -> list[Choice]:
    """The tunable matmul nodes of a compiled ``graph`` grouped by (shapes, layout, dtype,
    provider), in order of first use, each with the timings the choice rested on (what
    ``blas.choose`` measured in this process; ``{}`` for nodes not timed here).

    Example:
        >>> from tapeflow.graphs import Graph
        >>> choices(Graph((), ()), {})
        []
    """
    groups: dict[tuple[Any, ...], list[Node]] = {}
    for n in graph.nodes:
        if _tunable(n, graph):
            flags = (bool(n.attrs.get("transpose_a")), bool(n.attrs.get("transpose_b")))
            key = (*(graph[i].shape for i in factors(n)), flags, n.dtype.name,
                   providers.get(n.id, blas.NUMPY))
            groups.setdefault(key, []).append(n)
    rows = []
    for (_, _, flags, dtype, provider), nodes in groups.items():
        a, b, _ = operands(nodes[0], graph)
        rows.append(Choice(a.shape[0], a.shape[1], b.shape[1], flags, dtype,
                           tuple(x.id for x in nodes), blas.timings(a, b), provider))
    return rows


def summary(providers: Mapping[int, str]) -> str:
    """One line: how many matmul nodes each provider runs (empty when none was chosen).

    Example:
        >>> summary({3: "mkl", 5: "numpy", 7: "mkl"})
        'gemm providers: 2 mkl, 1 numpy (matmul nodes)'
    """
    if not providers:
        return ""
    counts = Counter(providers.values())
    parts = ", ".join(f"{count} {name}" for name, count in sorted(counts.items(),
                                                                   key=lambda kv: -kv[1]))
    return f"gemm providers: {parts} (matmul nodes)"


__all__ = ["Choice", "autotune", "choices", "factors", "operands", "summary"]
