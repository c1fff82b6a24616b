"""Layout: an operand that many matmuls read transposed is transposed once per run.

BLAS packs a GEMM's operands into panels on every call, and packing a transposed
(column-major) right operand is slower than packing a row-major one: on OpenBLAS a
32x128 @ (128x128)^T product takes about twice as long as the same product with the
transpose already in memory, and 64x512 @ (512x512)^T about 20 % longer. The backward
pass of an unrolled RNN reads ``w_hh^T`` once per step (``g_t @ w_hh^T``), so after CSE
one ``transpose`` view of ``w_hh`` feeds T matmuls. This pass gives such a view, when at
least :data:`MIN_MATMUL_READS` matmuls read it, one contiguous ``copy`` (a row-major
buffer of the planned arena) and lets those matmuls read the copy; other readers keep
the view.

The copy costs about as much as 1 to 15 of the saved packing differences (more for big
matrices, whose transposed copy leaves the cache), hence the threshold. Only the layout
of one operand changes: the products and their order of summation are the same, and the
results are bit-identical on numpy's OpenBLAS (tests compare every switch on and off).
Switch it off with ``CompileOptions(materialize_transposes=False)``.

Example:
    >>> from tapeflow.static.compiler.layout import materialize_transposes
    >>> # graph, changed = materialize_transposes(graph)
"""

from __future__ import annotations

from collections import Counter

from ...graphs.ir import Graph, Node
from .lowering import concrete

#: a transposed operand is copied once when at least this many matmuls read it
MIN_MATMUL_READS = 8


def materialize_transposes(graph: Graph) -> tuple[Graph, bool]:
    """A contiguous ``copy`` of every rank-2 ``transpose`` that many matmuls read."""
    reads: Counter[int] = Counter()
    for n in graph.nodes:
        if n.kind == "call" and n.op == "matmul":
            reads.update(set(n.inputs))
    chosen = {n.id for n in graph.nodes if _qualifies(n, reads[n.id])}
    if not chosen:
        return graph, False
    next_id = max(n.id for n in graph.nodes) + 1
    copy_of: dict[int, int] = {}
    nodes: list[Node] = []
    for n in graph.nodes:
        if n.kind == "call" and n.op == "matmul" and any(i in copy_of for i in n.inputs):
            n = n.with_(inputs=tuple(copy_of.get(i, i) for i in n.inputs))
        nodes.append(n)
        if n.id in chosen:  # right after the view, which lowering put before its first use
            copy = Node(next_id, "call", "copy", (n.id,), {}, n.shape, n.dtype,
                        name=f"{n.name}/contiguous", site=n.site, role=n.role)
            copy_of[n.id] = next_id
            next_id += 1
            nodes.append(copy)
    return Graph(tuple(nodes), graph.outputs), True


def _qualifies(n: Node, matmul_reads: int) -> bool:
    return (n.kind == "call" and n.op == "transpose" and matmul_reads >= MIN_MATMUL_READS
            and concrete(n.shape) and len(n.shape) == 2)  # type: ignore[arg-type]
