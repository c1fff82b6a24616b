"""Per-mode figures the harness reports beside the timings: graph sizes, compilations and
memory plans (static), and nodes recorded on the tape per step (dynamic)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .workloads import Mode, Workload


def stats(mode: Mode, trainer: Any, workload: Workload) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if mode.graph_length is not None:
        from .data import padding_waste

        figures["padding_waste"] = padding_waste(workload.batches, mode.graph_length)
    if mode.name == "traced":
        figures.update(traced_stats(trainer, workload))
    elif mode.style == "static":
        figures.update(static_stats(trainer, workload))
    else:
        figures.update(dynamic_stats(trainer, workload))
    return figures


def static_fetches_and_feed(trainer: Any, batch: Any) -> tuple[list[Any], dict[Any, Any]]:
    """What one training step of a static trainer runs: its fetches and its feed."""
    if hasattr(trainer, "unrolled"):  # the RNN: the graph of the batch's bucket
        graph, feed = trainer._feed(batch)
        return [graph["loss"], graph["train"]], feed
    inputs, targets = batch
    return [trainer.loss, trainer.train_op], {trainer.x: inputs, trainer.y: targets}


def static_stats(trainer: Any, workload: Workload) -> dict[str, Any]:
    roles = Counter(node.role for node in trainer.graph.nodes.values())
    # the plan of the longest graph this trainer runs (the padded one, for the RNN)
    batch = max(workload.batches, key=lambda b: getattr(b, "max_length", 0))
    fetches, feed = static_fetches_and_feed(trainer, batch)
    compiled_before = trainer.sess.compile_count
    plan = trainer.sess.plan(fetches, feed)
    return {
        "forward_nodes": roles["forward"],
        "backward_nodes": roles["backward"],
        "update_nodes": roles["update"],
        "compilations": compiled_before,
        "arena_bytes": plan.arena_bytes,
        "lower_bound_bytes": plan.lower_bound_bytes,
        "naive_bytes": plan.naive_bytes,
        "planned_steps": len(plan.steps),
    }


def traced_stats(trainer: Any, workload: Workload) -> dict[str, Any]:
    """A traced trainer (``trainer.train_step`` is a ``static.function``): its traces, and
    the graph and plan of its longest trace (as for the static modes)."""
    fn = trainer.train_step
    traces, compiled = fn.trace_count, fn.compile_count  # before plan() may trace again
    batch = max(workload.batches, key=lambda b: getattr(b, "max_length", 0))
    args = trainer.inputs(*workload.step_args(batch))
    plan = fn.plan(*args)
    roles = Counter(node.role for node in fn.get_concrete_function(*args)[1].graph.nodes.values())
    return {
        "forward_nodes": roles["forward"], "backward_nodes": roles["backward"],
        "update_nodes": roles["update"],
        "compilations": traces, "traces": traces, "session_compilations": compiled,
        "arena_bytes": plan.arena_bytes, "lower_bound_bytes": plan.lower_bound_bytes,
        "naive_bytes": plan.naive_bytes, "planned_steps": len(plan.steps),
    }


def tape_size(loss: Any) -> int:
    """The number of backward nodes reachable from ``loss.grad_fn`` (leaves' accumulators
    excluded): what the tape recorded for this forward pass."""
    seen: set[int] = set()
    recorded = 0
    stack = [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        recorded += fn.name() != "AccumulateGrad"
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return recorded


def dynamic_stats(trainer: Any, workload: Workload) -> dict[str, Any]:
    from .. import dynamic as torch

    sizes = []
    for batch in workload.batches:
        args = workload.step_args(batch)
        if hasattr(trainer, "loss_fn") and len(args) == 2:  # XOR: inputs, targets
            x = torch.tensor(args[0], dtype=trainer.dtype)
            y = torch.tensor(args[1], dtype=trainer.dtype)
        else:
            x, y = torch.from_numpy(args[0].tokens), torch.from_numpy(args[0].labels)
        loss = trainer.loss_fn(trainer.model(x), y)
        sizes.append(tape_size(loss))
    return {
        "tape_nodes_per_step": round(sum(sizes) / len(sizes), 1),
        "tape_nodes_min": min(sizes),
        "tape_nodes_max": max(sizes),
    }
