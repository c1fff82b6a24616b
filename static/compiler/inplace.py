"""The planner's in-place decisions: which ops overwrite their input, which operands of a
``stack`` are written straight into its slices.

Both are facts about one memory plan, not about the graph: they are returned explicitly
(a set of node ids; a new plan and a slot table) and handed to ``planner.plan_memory`` and
the executor, never stored on the graph.

Example:
    >>> # marks = mark_inplace(graph)
    >>> # plan, slots = stack_in_place(graph, plan_memory(graph, marks), marks)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...graphs.ir import Graph
from ...graphs.liveness import analyze
from .planner import Plan, is_arena_value, outside_arena, place


def mark_inplace(graph: Graph) -> frozenset[int]:
    """Marks elementwise ops that can overwrite their input 0, which dies at that op.

    Conditions: the op allows it (``opdef.inplace``); the output and input 0 are both arena
    buffers (not a feed, variable, const, fetched or assigned value, nor a view of one)
    with the same shape and dtype; no later step reads input 0 or any view of it; and no
    other input of the op aliases input 0's memory. Semantics do not change: the planner
    just gives the output its input's buffer.

    Returns the ids of those call nodes, for ``planner.plan_memory`` and ``stack_in_place``.
    """
    live = analyze(graph.nodes, graph.outputs)
    outside = outside_arena(graph)
    by_id = {n.id: n for n in graph.nodes}
    marked: set[int] = set()
    for n in graph.nodes:
        if not (is_arena_value(n, outside) and n.opdef.inplace and n.inputs):
            continue
        x = by_id[n.inputs[0]]
        step = live.step_of[n.id]
        if not is_arena_value(x, outside) or (x.shape, x.dtype) != (n.shape, n.dtype):
            continue
        if live.root_last[x.id] != step:
            continue
        if any(live.root[i] == x.id and i != x.id for i in n.inputs[1:]):
            continue
        marked.add(n.id)
    return frozenset(marked)




Slots = dict[int, tuple[int, tuple[Any, ...]]]  # operand id -> (stack id, index of its slice)


def stack_in_place(graph: Graph, plan: Plan, marks: frozenset[int]) -> tuple[Plan, Slots]:
    """Lets the operands of a ``stack`` be written straight into its slices (no copy).

    A stack qualifies when no later op overwrites it in place; an operand, when it is a call
    with a buffer of its own in ``plan`` (or one it took over in place) that no later op
    overwrites in place, and that it is the operand of no other such stack. Its value (and
    its views) then live in the stack's slice, and the stack's buffer is alive from the first
    such operand's step; the other operands are copied in at the stack's step. Offsets are
    placed again (greedy by size) for the new lifetimes. The values are the same bytes as
    with the copying stack, so planned and unplanned runs stay bit-identical.

    ``marks`` is the in-place set the plan was made with (:func:`mark_inplace`). Returns the
    new plan and ``{operand id: (stack id, index of its slice)}``.
    """
    live = analyze(graph.nodes, graph.outputs)
    overwritten = {graph[n].inputs[0] for n in marks}
    buffer_of, lifetimes = dict(plan.buffer_of), dict(plan.lifetimes)
    steps = {s.node_id: s for s in plan.steps}
    slots: Slots = {}
    hosts: set[int] = set()
    for n in graph.nodes:
        if n.kind != "call" or n.op != "stack" or steps[n.id].where != "arena":
            continue
        if n.id in overwritten:  # a later op writes over the stack while operands are read
            continue
        axis = int(n.attrs.get("axis", 0)) % len(n.shape)  # type: ignore[arg-type]
        chosen = []
        for t, x in enumerate(n.inputs):
            node = graph[x]
            if (node.kind == "call" and x in buffer_of and live.root[x] == x
                    and x not in overwritten and x not in slots and x not in hosts
                    and n.inputs.count(x) == 1
                    and node.dtype is n.dtype and steps[x].where in ("arena", "inplace")):
                # (the Ellipsis keeps the slice of a stack of scalars a 0-d view)
                chosen.append((x, (slice(None),) * axis + (t, Ellipsis)))
        if not chosen:
            continue
        hosts.add(n.id)
        stack_buffer = buffer_of[n.id]
        first, last = lifetimes[stack_buffer]
        for x, index in chosen:
            slots[x] = (n.id, index)
            for member in (x, *live.views_of(x)):
                buffer_of[member] = stack_buffer
            first = min(first, live.step_of[x])
            last = max(last, live.root_last[x])
        lifetimes[stack_buffer] = (first, last)
    if not slots:
        return plan, slots
    used = set(buffer_of.values())
    sizes = {b: size for b, size in plan.sizes.items() if b in used}
    lifetimes = {b: life for b, life in lifetimes.items() if b in used}
    offsets = place(sizes, lifetimes)
    new_steps = []
    for step in plan.steps:
        if step.node_id in buffer_of and buffer_of[step.node_id] != step.buffer:
            step = replace(step, buffer=buffer_of[step.node_id], offset=None, nbytes=0,
                           where="view")  # (it writes into the stack's slice)
        elif step.offset is not None:
            step = replace(step, offset=offsets[step.buffer])  # type: ignore[index]
        new_steps.append(step)
    return Plan(new_steps, buffer_of, offsets, sizes, lifetimes,
                {b: v for b, v in plan.nbytes.items() if b in used},
                {b: v for b, v in plan.names.items() if b in used}), slots
