"""The report's section on GEMM libraries: which library runs each matrix product.

Most of an RNN's training step is matrix products (GEMMs). With
``CompileOptions(blas="auto")`` the static compiler times every installed GEMM library
(``runtime/blas.py``: numpy's bundled OpenBLAS, Intel's MKL when the ``mkl`` wheel is
installed) on each product's shapes while it compiles, and keeps the fastest
(``static/compiler/autotune.py``; the choice per node is ``Session.plan(...).providers``).
This section compiles the training step of ``benchmarks/bench_steps.py``'s RNN-large
(B=64, T=50, D=128, H=512, float32: the workload whose step is GEMM-bound; the very graph,
weights and learning rate the benchmark times, ``compare/step_models.py``) that way and
draws the choice: one row per kind of product, with its shapes, how many run per step,
each library's measured time and the library kept.

The times are measured on this machine when the section is made, so two processes give
different numbers; within one process they are the autotuner's own remembered timings
(``blas.timings``: a product's shapes are timed once per process, as its choice is), so
the same run writes the same bytes.

Example:
    >>> # sec = report_section(Path("out"))  # sec.parts (HTML), sec.files
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..visualize.html_page import esc, look
from .step_models import CLASSES, WORKLOADS

#: RNN-large of benchmarks/bench_steps.py (compare/step_models.py)
SHAPE = {**WORKLOADS["rnn-large"], "classes": CLASSES}

WHY = ("Why the fastest library depends on the shape: each library cuts a product into "
       "blocks sized for this CPU's registers and caches and copies (packs) its operands "
       "into them before multiplying. How well a shape fits those blocks (64 rows of a "
       "thin product against 448 rows of a merged one), how much of the time the packing "
       "takes, and whether an operand is read transposed differ from library to library, "
       "so one library can be ahead on one shape and level or behind on another. So the "
       "compiler times each shape rather than trusting one library everywhere; a library "
       "other than numpy's is kept only when it is at least 5 % faster. One exception: a "
       "product added to a value at once (a weight gradient summed over blocks of steps, "
       "a step's recurrence added to its row of input products) runs in MKL when MKL's "
       "time is within numpy's plus that add's, since MKL adds the product into the value "
       "as it makes it (GEMM's beta = 1) and numpy's matmul cannot.")


def rnn_large_program(dtype: str = "float32") -> Any:
    """The compiled training step (forward, backward, SGD) of ``bench_steps.py``'s RNN-large
    (its graph, weights and learning rate: ``compare/step_models.py``) with
    ``CompileOptions(blas="auto")``: a CompiledProgram (``graph``, ``plan.providers``)."""
    from ..static.compiler import CompileOptions
    from .step_models import compiled_step

    return compiled_step({**WORKLOADS["rnn-large"], "dtype": dtype},
                         CompileOptions(blas="auto"))


def _operand(graph: Any, nid: int) -> str | None:
    """A weight's name (``w_hh``, ``w_hh^T`` through a transpose or its copy), else None."""
    node = graph[nid]
    if node.kind == "variable":
        return node.name.split(":")[0] or None
    if node.kind == "call" and node.op in ("transpose", "copy"):
        inner = _operand(graph, node.inputs[0])
        if inner is not None:
            return inner if node.op == "copy" else f"{inner}^T"
    return None


def _from_feed(graph: Any, nid: int, depth: int = 4) -> bool:
    """Whether a value is the fed input itself or views or stacks of it (``x[:, t]``)."""
    node = graph[nid]
    if node.kind == "placeholder":
        return True
    views = ("getitem", "stack", "reshape", "transpose", "concat", "copy")
    return (depth > 0 and node.kind == "call" and node.op in views
            and all(_from_feed(graph, i, depth - 1) for i in node.inputs))


def describe(graph: Any, nid: int) -> str:
    """Plain words for a matmul (or addmm) node: forward or backward, what it multiplies,
    whether ``dot_merge`` joined several steps into it."""
    from ..static.compiler.autotune import factors

    node = graph[nid]
    inputs = factors(node)  # (an addmm's first input is what the product is added to)
    names = [_operand(graph, i) for i in inputs]
    if graph[inputs[0]].kind == "const":  # a row of ones (compiler/gemm_sums.py)
        what = "bias gradient (a sum over the batch and steps)"
    elif node.role == "backward" and not any(names):
        what = "weight gradient (a sum over steps)"
    elif node.role == "backward":
        what = f"gradient @ {names[1]}" if names[1] else f"{names[0]} @ gradient"
    else:
        what = " @ ".join(name or ("x_t" if _from_feed(graph, i) else "h_t")
                          for i, name in zip(inputs, names, strict=True))
    merged = ""
    # (a block's product summed into the gradient keeps the add's name: compiler/gemm_acc.py)
    if "dot_merge" in node.name or (node.op == "addmm" and node.role == "backward"):
        a = graph[inputs[0]].shape
        rows = a[0] if bool(node.attrs.get("transpose_a")) == (node.role == "backward") \
            else a[1]
        steps = rows // SHAPE["batch"]
        merged = f", {steps} steps in one product" if steps > 1 else ", the last step"
    return f"{node.role}: {what}{merged}"


def _rows(graph: Any, rows: list[Any]) -> list[tuple[str, Any, int]]:
    """(words, choice, calls per step): a choice's nodes split by what they compute (one
    (shapes, layout) may serve both the recurrence and its gradient)."""
    out = []
    for r in rows:
        counts: dict[str, int] = {}
        for nid in r.nodes:
            words = describe(graph, nid)
            counts[words] = counts.get(words, 0) + 1
        out += [(words, r, count) for words, count in counts.items()]
    return out


def _figure(value: float, form: str, least: float) -> str:
    """``value`` in ``form``, or to two significant digits below ``least`` (a product of a
    row of ones does 256 flops: shown as 0 it would read as none)."""
    return format(value, form) if value >= least or value == 0 else f"{value:.2g}"


def table_html(graph: Any, rows: list[Any]) -> str:
    """One row per (shapes, layout, library): what, m x k x n, calls per step, MFLOP per
    call, each library's µs per call, the library kept and its GFLOP/s."""
    libraries = sorted({name for r in rows for name in r.seconds}, key=lambda n: n != "numpy")
    head = "".join(f"<th>{esc(_label(name))} µs/call</th>" for name in libraries)
    body = []
    for words, r, count in _rows(graph, rows):
        cells = "".join(f"<td>{r.seconds[name] * 1e6:,.0f}</td>" if name in r.seconds
                        else "<td>-</td>" for name in libraries)
        kept = r.seconds.get(r.provider)
        rate = _figure(r.flops / kept / 1e9, ",.0f", 1) if kept else "-"
        body.append(f"<tr><td>{esc(words)}</td><td>{r.m}&nbsp;×&nbsp;{r.k}&nbsp;×&nbsp;{r.n}</td>"
                    f"<td>{count}</td><td>{_figure(r.flops / 1e6, ',.1f', 0.1)}</td>{cells}"
                    f"<td><b>{esc(r.provider)}</b></td><td>{rate}</td></tr>")
    return ('<div class="tablewrap"><table class="cmp"><thead><tr><th>product</th>'
            "<th>m&nbsp;×&nbsp;k&nbsp;×&nbsp;n</th><th>calls per step</th><th>MFLOP per call</th>"
            f"{head}<th>kept</th><th>GFLOP/s kept</th></tr></thead><tbody>{''.join(body)}"
            "</tbody></table></div>")


def _label(provider: str) -> str:
    return {"numpy": "numpy (OpenBLAS)", "mkl": "MKL"}.get(provider, provider)


def report_section(out_dir: Path) -> Any:
    """The section (an ``html_report._Section``: ``parts`` and ``files``)."""
    from ..runtime import blas
    from ..static.compiler.autotune import choices
    from .html_report import _Section

    sec = _Section(Path(out_dir), "gemm")
    sec.parts.append('<h2 id="gemm">Which library multiplies the matrices</h2>')
    try:
        from threadpoolctl import threadpool_limits

        blas.available()  # MKL loaded first, so that the limit reaches it too
        with threadpool_limits(limits=1, user_api="blas"):  # one thread, as benchmarked
            program = rnn_large_program()
    except Exception as exc:  # noqa: BLE001 - one failed section must not sink the report
        sec.parts.append(f'<p class="note">no GEMM table: {esc(type(exc).__name__)}: '
                         f"{esc(exc)}</p>")
        return sec
    rows = choices(program.graph, program.plan.providers)
    total = sum(r.flops * len(r.nodes) for r in rows)
    sec.parts.append(
        f"<p>A matrix product (GEMM) is most of an RNN's training step: RNN-large's step "
        f"(batch 64, 50 steps, 128 inputs, 512 hidden units, float32, one thread; "
        f"<code>benchmarks/bench_steps.py</code>) runs {sum(len(r.nodes) for r in rows)} of "
        f"them, {total / 1e9:.2f} GFLOP. Compiled with "
        f"<code>CompileOptions(blas=\"auto\")</code>, the compiler times each installed "
        f"library on each product's shapes and keeps the fastest; "
        f"<code>Session.plan(...).providers</code> lists the choice per node. The times "
        f"below were measured on this machine when this report was written.</p>"
        f"<p>{esc(WHY)}</p>")
    if len(blas.available()) < 2:
        sec.parts.append('<p class="note">Only numpy\'s matmul is installed here, so every '
                         "product runs in it. <code>pip install tapeflow[mkl]</code> (the "
                         "<code>mkl</code> wheel) adds Intel's MKL as a second library to "
                         "time.</p>")
    sec.parts.append(table_html(program.graph, rows) + look(
        "calls per step times the time per call: the recurrence and its gradient (49 "
        "calls each, one per unrolled step; the zero initial state needs no product at "
        "the first step) weigh most. Then compare the library columns row by row: the "
        "kept library is not the same in every row (the tiny products stay in numpy's), "
        "and it wins by different margins."))
    return sec


__all__ = ["SHAPE", "describe", "report_section", "rnn_large_program", "table_html"]
