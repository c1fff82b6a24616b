"""The graphs of the built-in workloads (``tapeflow graph WORKLOAD --mode ...``).

The static graph is the one a training step runs (loss and train op, the padded graph for
the RNN; repeated steps folded when large), optionally coloured by its memory plan. The
dynamic graph is the tape one training step records: with ``backward``, the grad_fn graph
after backward (leaves with their gradients); without, the recorded forward graph. Every
figure of a workload shows the same batch (:func:`figure_batch`, named in each title):
for the RNN a batch of median length, so the padded static graph shows its padding.

Example:
    >>> # render("xor", "static", backward=True, memory=True, output_path=Path("xor.svg"),
    >>> #        dtype="float64", seed=0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..visualize.dot import Figure
from ..visualize.static_graph import static_graph
from ..visualize.tape import recorded_forward, tape


def build_workload(name: str, dtype: str, seed: int, cell: str | None = None) -> Any:
    from .workloads import WORKLOADS

    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    return WORKLOADS[name](dtype, seed, **({"cell": cell} if cell else {}))


def _mode(workload: Any, style: str) -> Any:
    """The first mode of ``style`` (static-padded for the RNN's "static"), or the mode
    of that name ("static-while")."""
    for mode in workload.modes:
        if mode.style == style or mode.name == style:
            return mode
    raise ValueError(f"workload {workload.name} has no {style} mode")


def figure_batch(workload: Any) -> Any:
    """The batch every figure of a workload shows: XOR's one batch; for the RNN, a batch of
    the median sentence length (the first such batch)."""
    lengths = sorted({getattr(b, "max_length", 0) for b in workload.batches})
    median = lengths[len(lengths) // 2]
    return next(b for b in workload.batches if getattr(b, "max_length", 0) == median)


def describe_batch(workload: Any, batch: Any) -> str:
    """``a batch of 16 sentences of 21 words`` / ``the batch of all 4 XOR inputs``."""
    if hasattr(batch, "tokens"):
        size, length = batch.tokens.shape
        index = next(k for k, b in enumerate(workload.batches) if b is batch)
        return f"batch {index} ({size} sentences of {length} words)"
    return f"the batch of all {len(batch[0])} XOR inputs"


def longest_batch(workload: Any) -> Any:
    return max(workload.batches, key=lambda b: getattr(b, "max_length", 0))


def shortest_batch(workload: Any) -> Any:
    return min(workload.batches, key=lambda b: getattr(b, "max_length", 0))


def static_training_step(workload: Any, batch: Any = None,
                         ) -> tuple[Any, list[Any], dict[Any, Any]]:
    """(trainer, fetches, feed) of one training step of the workload's (first) static mode
    on ``batch`` (default :func:`figure_batch`; the RNN's padded graph for any batch)."""
    from .introspect import static_fetches_and_feed

    trainer = _mode(workload, "static").make()
    fetches, feed = static_fetches_and_feed(trainer, batch or figure_batch(workload))
    return trainer, fetches, feed


def trace_dynamic(workload: Any, batch: Any) -> tuple[Any, Any]:
    """(trainer, trace) of one steady-state dynamic training step on ``batch``: one step
    first (its one-time allocations would otherwise count), then one traced step."""
    from ..visualize.memory_trace import trace_dynamic_step

    trainer = _mode(workload, "dynamic").make()
    trainer.step(*workload.step_args(batch))
    return trainer, trace_dynamic_step(lambda: trainer.step(*workload.step_args(batch)))


def dynamic_loss(workload: Any, trainer: Any, batch: Any) -> Any:
    """The loss tensor of one forward pass of a dynamic trainer (its tape not yet used)."""
    from .. import dynamic as torch

    args = workload.step_args(batch)
    if len(args) == 2:  # XOR: inputs and targets
        x, y = (torch.tensor(a, dtype=trainer.dtype) for a in args)
        return trainer.loss_fn(trainer.model(x), y)
    tokens, labels = torch.from_numpy(batch.tokens), torch.from_numpy(batch.labels)
    return trainer.loss_fn(trainer.model(tokens), labels)


def static_figure(workload: Any, backward: bool, memory: bool,
                  collapse: bool | None = None, expand_cells: bool = False) -> Figure:
    """The static graph of one training step; ``memory`` colours it by arena offset."""
    batch = figure_batch(workload)
    trainer, fetches, feed = static_training_step(workload, batch)
    outputs = fetches if backward else fetches[:1]
    plan = trainer.sess.plan(outputs, feed) if memory else None
    part = "training graph (forward, backward, update)" if backward else "forward graph"
    title = f"{workload.name}: static {part}, batch ? (any size); memory plan for " \
            f"{describe_batch(workload, batch)}" if memory else \
        f"{workload.name}: static {part}, batch ? (any size)"
    return static_graph(trainer.graph, outputs=outputs, plan=plan, backward=backward,
                        collapse=collapse, title=title, expand_cells=expand_cells)


def while_figure(workload: Any, backward: bool, memory: bool,
                 collapse: bool | None = None) -> Figure:
    """The static-while graph of one training step (the RNN's ``static-while`` mode), each
    loop drawn as a box holding its body; ``memory``: the outer arena's offsets outside the
    boxes, each body's own arena inside."""
    from ..visualize.loop_graph import loop_graph
    from .introspect import static_fetches_and_feed

    batch = figure_batch(workload)
    trainer = _mode(workload, "static-while").make()
    fetches, feed = static_fetches_and_feed(trainer, batch)
    outputs = fetches if backward else fetches[:1]
    plan, bodies = loop_body_plans(trainer, outputs, feed) if memory else (None, None)
    part = "training graph (forward loop, gradient loop, update)" if backward else \
        "forward graph"
    title = f"{workload.name}: static-while {part}, one graph for every batch" + (
        f"; memory plans for {describe_batch(workload, batch)}" if memory else "")
    return loop_graph(trainer.graph, outputs=outputs, plan=plan, body_plans=bodies,
                      backward=backward, collapse=collapse, title=title)


def loop_body_plans(trainer: Any, fetches: list[Any], feed: dict[Any, Any]
                    ) -> tuple[Any, dict[tuple[str, str], Any]]:
    """(outer plan, (loop name, body name) -> body plan) of one step of a static trainer.

    A gradient loop's body is planned when it first runs (the length of the stacks it reads
    is known only then), so ``Session.plan`` cannot show it: the step is compiled here as
    the Session compiles it, and run once on the Session's variables (nothing is written
    back), and the plans of every body it ran are read off the compiled loops.
    """
    import numpy as np

    from ..runtime import Spec
    from ..runtime import dtypes as dt
    from ..static.compiler import compile as compile_graph
    from ..static.compiler.loops import body_programs

    feeds = {t.node_id: np.asarray(v) for t, v in feed.items()}
    specs = {k: Spec(v.shape, dt.as_dtype(v.dtype)) for k, v in feeds.items()}
    program = compile_graph(trainer.graph.as_ir(fetches), specs, trainer.sess.options)
    program.run(feeds, trainer.sess.variable_values)
    names = {id(r): n.name for n in program.graph.nodes for r in n.attrs.get("runners") or ()}
    return program.inspect_plan(), {
        (names[id(r)], r.body.name): p.plan for r in body_programs(program.graph)
        for p in r.programs.values() if getattr(p, "plan", None) is not None}


def dynamic_figure(workload: Any, backward: bool, memory: bool) -> Figure:
    """The tape of one dynamic step on :func:`figure_batch`: with ``backward`` the grad_fn
    graph after backward (``memory``: with the tensors saved for backward), else the
    recorded forward graph."""
    trainer = _mode(workload, "dynamic").make()
    batch = figure_batch(workload)
    loss = dynamic_loss(workload, trainer, batch)
    params = dict(trainer.model.named_parameters())
    what = f", {describe_batch(workload, batch)}"
    fold = True if hasattr(batch, "tokens") else None  # an RNN's steps: one box each op
    if not backward:
        return recorded_forward(loss, params, title=f"{workload.name}: forward graph recorded "
                                                     f"on the tape{what}", collapse=fold)
    loss.backward(retain_graph=True)  # leaves show their .grad; saved tensors stay inspectable
    note = "; orange: tensors the tape saved for backward" if memory else ""
    return tape(loss, params, show_saved=memory, collapse=fold,
                title=f"{workload.name}: autograd tape after backward{what}{note}")


def figure(workload: str, mode: str, backward: bool = True, memory: bool = False,
           dtype: str = "float64", seed: int = 0, collapse: bool | None = None,
           recompute: Any = None, cell: str | None = None) -> Figure:
    """The Figure behind :func:`render` (no file written); ``collapse`` as in
    :func:`~tapeflow.visualize.static_graph` (static mode only); ``recompute`` (static):
    the training graph compiled with ``CompileOptions(recompute=...)``; ``cell``: the RNN's."""
    built = build_workload(workload, dtype, seed, cell)
    if mode == "static" and recompute is not None:
        from .recompute_report import recompute_figure

        return recompute_figure(built, recompute, memory, collapse)
    if mode == "static":
        return static_figure(built, backward, memory, collapse)
    if mode == "dynamic":
        return dynamic_figure(built, backward, memory)
    if mode == "static-while":
        return while_figure(built, backward, memory, collapse)
    raise ValueError(f"mode must be 'static', 'static-while' or 'dynamic', got {mode!r}")


def render(workload: str, mode: str, backward: bool, memory: bool, output_path: Path,
           dtype: str, seed: int, collapse: bool | None = None, **options: Any) -> Path:
    """Draws a workload's graph and writes it to ``output_path`` (.svg, or .dot source);
    ``options``: ``recompute`` and ``cell`` as in :func:`figure`.

    Raises:
        DotNotFoundError: writing .svg without Graphviz's ``dot`` (the message says how
            to install it; .dot needs no Graphviz).
    """
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".svg", ".dot", ".gv"):
        raise ValueError(f"cannot write a graph to {output_path.name!r}: use .svg or .dot")
    if output_path.parent and not output_path.parent.exists():
        output_path.parent.mkdir(parents=True, exist_ok=True)
    return figure(workload, mode, backward, memory, dtype, seed, collapse,
                  **options).save(output_path)
