"""The memory planner: one arena, offsets by greedy-by-size, and a validator.

Every call output that is not a view, has a concrete shape and is not handed out of the
run (fetched or assigned to a variable) becomes a *buffer*. A view shares its base's
buffer and keeps it alive; an op in the in-place set (:func:`mark_inplace`, passed in
explicitly) shares its input 0's buffer. Each buffer has a lifetime ``[first, last]`` in
schedule steps, and reserves ``align(nbytes)`` bytes (64-byte aligned offsets, sizes from
the real dtype).

Offsets come from TFLite's greedy-by-size method: buffers sorted largest first, each put
at the lowest offset where it overlaps no already-placed buffer whose lifetime meets its
own (the same first-fit rule with longest-lived buffers first is also tried, and the
smaller arena kept). Three numbers describe the result: ``naive_bytes`` (every buffer
its own memory), ``arena_bytes`` (the plan), and ``lower_bound_bytes`` (the most bytes
alive at any one step, which no plan of this schedule can beat).

The planner's in-place decisions live here too: which ops overwrite their input
(:func:`mark_inplace`), which operands of a ``stack`` are written straight into its slices
(:func:`stack_in_place`). Both are facts about one plan, not about the graph: they are
returned explicitly (a set of node ids; a new plan and a slot table), never stored on it.

Example:
    >>> # marks = mark_inplace(graph)
    >>> # plan, slots = stack_in_place(graph, plan_memory(graph, marks), marks)
    >>> # print(plan); plan.validate()
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ...graphs.ir import Graph, Node
from ...graphs.liveness import Liveness, analyze, is_view, overlaps
from ...runtime import ALIGNMENT, align
from .autotune import summary
from .gemm_rows import writes_row
from .intervals import clash_free, first_fit
from .lowering import concrete
from .slot_lifetimes import end_left_chains, without_early


class PlanError(AssertionError):
    """A memory plan broke an invariant (two live buffers overlap): a planner bug."""


@dataclass(frozen=True)
class Step:
    """One kernel call of the schedule and where its output lives.

    ``buffer`` is None for outputs outside the arena (fetched, assigned, views of feeds or
    variables, values of unknown size); then ``offset`` is None too.
    """

    node_id: int
    op: str
    inputs: tuple[int, ...]
    buffer: int | None
    offset: int | None
    nbytes: int
    first: int
    last: int
    where: str  # "arena", "inplace", "view", "out" (fresh array each run), "dynamic"


@dataclass
class Plan:
    """A memory plan for one schedule. Attribute names are read by the visualiser."""

    steps: list[Step]
    buffer_of: dict[int, int]  # node id -> buffer id (views and in-place outputs included)
    offsets: dict[int, int]  # buffer id -> byte offset in the arena
    sizes: dict[int, int]  # buffer id -> bytes reserved (nbytes rounded up to 64)
    lifetimes: dict[int, tuple[int, int]]  # buffer id -> (first, last) step, inclusive
    nbytes: dict[int, int] = field(default_factory=dict)  # buffer id -> bytes of its data
    names: dict[int, str] = field(default_factory=dict)  # buffer id -> producing node's name
    # one LoopPlan per while/cond body of the schedule (compiler/loops.py): its own plan
    loops: list[Any] = field(default_factory=list)
    # matmul node id -> its GEMM library (CompileOptions.blas); empty: numpy's everywhere
    providers: dict[int, str] = field(default_factory=dict)

    @property
    def naive_bytes(self) -> int:
        """Bytes if every buffer had memory of its own (no reuse at all)."""
        return sum(self.sizes.values())

    @property
    def arena_bytes(self) -> int:
        """Bytes of the one arena this plan needs."""
        return max((self.offsets[b] + self.sizes[b] for b in self.sizes), default=0)

    @property
    def lower_bound_bytes(self) -> int:
        """The largest sum of sizes of buffers alive at the same step of this schedule."""
        return max(self.live_bytes_per_step(), default=0)

    def live_bytes_per_step(self) -> list[int]:
        """For each schedule step, the bytes of the buffers alive at that step."""
        live = [0] * len(self.steps)
        for b, (first, last) in self.lifetimes.items():
            for s in range(max(first, 0), min(last, len(self.steps) - 1) + 1):
                live[s] += self.sizes[b]
        return live

    def validate(self) -> None:
        """Raises PlanError if two buffers alive at one step overlap, or one is misaligned
        (in this plan and in the plans of its loop bodies)."""
        for loop in self.loops:
            loop.plan.validate()
        items = sorted(self.sizes, key=lambda b: self.offsets[b])
        for b in items:
            if self.offsets[b] % ALIGNMENT:
                raise PlanError(f"buffer {b} has offset {self.offsets[b]}, not {ALIGNMENT}-aligned")
        if clash_free(self.offsets, self.sizes, self.lifetimes):
            return  # (a sweep; the pair by pair scan below is quadratic, and names a clash)
        for k, a in enumerate(items):
            end_a = self.offsets[a] + self.sizes[a]
            for b in items[k + 1:]:
                if self.offsets[b] >= end_a:
                    break  # sorted by offset: nothing later can overlap a
                if overlaps(self.lifetimes[a], self.lifetimes[b]):
                    raise PlanError(
                        f"buffers {a} ({self.names.get(a, '?')}) and {b} ({self.names.get(b, '?')})"
                        f" are both alive in steps {self.lifetimes[a]} and {self.lifetimes[b]} "
                        f"but overlap in the arena: [{self.offsets[a]}, {end_a}) and "
                        f"[{self.offsets[b]}, {self.offsets[b] + self.sizes[b]})")

    def format(self, limit: int | None = None) -> str:
        """A readable table: one row per step, then the three totals."""
        rows = [f"{'step':>4}  {'op':<14} {'node':>6}  {'inputs':<18} {'where':<8} "
                f"{'buffer':>6} {'offset':>9} {'bytes':>9}  lifetime"]
        shown = self.steps if limit is None else self.steps[:limit]
        for k, s in enumerate(shown):
            ins = ",".join(f"%{i}" for i in s.inputs)
            ins = ins if len(ins) <= 18 else ins[:15] + "..."
            buf = "-" if s.buffer is None else str(s.buffer)
            off = "-" if s.offset is None else str(s.offset)
            op = f"{s.op}:{self.providers[s.node_id]}" if s.node_id in self.providers else s.op
            rows.append(f"{k:>4}  {op:<14} {'%' + str(s.node_id):>6}  {ins:<18} {s.where:<8} "
                        f"{buf:>6} {off:>9} {s.nbytes:>9}  [{s.first}, {s.last}]")
        if limit is not None and len(self.steps) > limit:
            rows.append(f"  ... {len(self.steps) - limit} more steps")
        rows.extend(str(loop) for loop in self.loops)
        naive, arena, bound = self.naive_bytes, self.arena_bytes, self.lower_bound_bytes
        rows.append(f"buffers: {len(self.sizes)}  naive_bytes: {naive}  arena_bytes: {arena}  "
                    f"lower_bound_bytes: {bound}")
        if naive and bound:
            rows.append(f"arena/naive = {arena / naive:.3f}  arena/lower_bound = "
                        f"{arena / bound:.3f}")
        rows.extend(filter(None, [summary(self.providers)]))  # the GEMM library of each matmul
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.format()


def outside_arena(graph: Graph) -> set[int]:
    """Values whose memory is not the arena's: sources, fetched values, assigned values."""
    ids = {n.id for n in graph.nodes if n.kind != "call"}
    ids.update(graph.outputs)
    ids.update(n.inputs[1] for n in graph.nodes if n.kind == "assign")
    return ids


def is_arena_value(n: Node, outside: set[int]) -> bool:
    """A call output that gets its own arena buffer (not a view, concrete shape, internal)."""
    return n.kind == "call" and not is_view(n) and concrete(n.shape) and n.id not in outside


def nbytes_of(node: Node) -> int:
    """Bytes of a node's value from its concrete shape and real dtype."""
    count = 1
    for d in node.shape or ():
        count *= int(d)  # type: ignore[arg-type]
    return count * node.dtype.itemsize


def plan_memory(graph: Graph, inplace: frozenset[int] = frozenset(), *,
                placed: bool = True) -> Plan:
    """Plans every arena buffer of ``graph`` (a schedule of concrete shapes).

    ``inplace``: the call nodes that write over their input 0 (:func:`mark_inplace`).
    ``placed=False`` leaves every offset 0, for :func:`stack_in_place` to place
    (:func:`plan_in_place`): placement is the planner's costliest part.
    """
    marks = inplace
    live = analyze(graph.nodes, graph.outputs)
    outside = outside_arena(graph)
    by_id = {n.id: n for n in graph.nodes}
    buffer_of: dict[int, int] = {}
    lifetimes: dict[int, tuple[int, int]] = {}
    nbytes: dict[int, int] = {}
    names: dict[int, str] = {}
    for n in graph.nodes:
        if n.kind != "call":
            continue
        if n.id in marks:
            # the output takes over input 0's buffer, which dies here
            b = buffer_of[n.inputs[0]]
            buffer_of[n.id] = b
            # (max: a step writing over one row of a block outlives the block, or not)
            lifetimes[b] = (lifetimes[b][0], max(lifetimes[b][1], live.lifetime(n.id)[1]))
        elif is_arena_value(n, outside):
            b = len(nbytes)
            buffer_of[n.id] = b
            lifetimes[b] = live.lifetime(n.id)
            nbytes[b] = nbytes_of(n)
            names[b] = n.name or f"%{n.id}"
        elif live.root[n.id] in buffer_of and live.root[n.id] != n.id:
            buffer_of[n.id] = buffer_of[live.root[n.id]]
    sizes = {b: align(max(size, 1)) for b, size in nbytes.items()}
    offsets = place(sizes, lifetimes) if placed else dict.fromkeys(sizes, 0)
    steps = [_step(by_id[nid], live, buffer_of, offsets, marks, outside)
             for nid in live.schedule]
    return Plan(steps, buffer_of, offsets, sizes, lifetimes, nbytes, names)


def _step(n: Node, live: Liveness, buffer_of: dict[int, int], offsets: dict[int, int],
          inplace: frozenset[int], outside: set[int]) -> Step:
    b = buffer_of.get(n.id)
    first, last = live.step_of[n.id], live.last_use[n.id]
    if n.id in inplace:
        where = "inplace"
    elif b is not None and live.root[n.id] != n.id:
        where = "view"
    elif b is not None:
        where = "arena"
    elif not concrete(n.shape):
        where = "dynamic"
    elif live.root[n.id] != n.id:
        where = "view"
    else:
        where = "out" if n.id in outside else "dynamic"
    owns = where in ("arena", "inplace", "out", "dynamic")
    op = f"fused({n.attrs['ops']})" if n.op == "fused" else n.op  # (what it fused)
    return Step(n.id, op, n.inputs, b, None if b is None or not owns else offsets[b],
                nbytes_of(n) if owns and concrete(n.shape) else 0, first, last, where)


def _extent(offsets: dict[int, int], sizes: dict[int, int]) -> int:
    return max((offsets[b] + sizes[b] for b in sizes), default=0)


def place(sizes: dict[int, int], lifetimes: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Offsets for buffers: greedy by size, or longest-lived first when that packs tighter.

    Greedy-by-size can fragment; placing the longest-lived buffers first sometimes packs
    tighter (e.g. without in-place writes). Both are cheap: the smaller arena is kept.
    """
    offsets = greedy_by_size(sizes, lifetimes)
    longest = sorted(sizes, key=lambda b: (lifetimes[b][0] - lifetimes[b][1], -sizes[b], b))
    alternative = greedy_by_size(sizes, lifetimes, longest)
    return alternative if _extent(alternative, sizes) < _extent(offsets, sizes) else offsets


def greedy_by_size(sizes: dict[int, int], lifetimes: dict[int, tuple[int, int]],
                   order: list[int] | None = None) -> dict[int, int]:
    """Offsets for buffers: largest first, each at the lowest aligned offset that fits.

    A buffer may share bytes only with buffers whose lifetimes do not meet its own.
    ``order`` replaces largest-first with another placement order (same first-fit rule).
    """
    offsets: dict[int, int] = {}
    placed: list[int] = []
    if order is None:
        # ties: longer-lived first, then creation order, so plans are deterministic
        order = sorted(sizes, key=lambda b: (-sizes[b], -(lifetimes[b][1] - lifetimes[b][0]), b))
    if all(first <= last for first, last in lifetimes.values()):
        # the same rule, without scanning every placed buffer per buffer (intervals.py)
        return first_fit(order, sizes, lifetimes)
    for b in order:
        conflicts = sorted((offsets[p], offsets[p] + sizes[p]) for p in placed
                           if overlaps(lifetimes[p], lifetimes[b]))
        offset = 0
        for start, end in conflicts:
            if start - offset >= sizes[b]:
                break  # the gap before this conflict is big enough
            offset = max(offset, align(end))
        offsets[b] = offset
        placed.append(b)
    return offsets


# ---- in-place decisions ------------------------------------------------------------------


def mark_inplace(graph: Graph) -> frozenset[int]:
    """Marks elementwise ops that can overwrite their input 0, which dies at that op.

    Conditions: the op allows it (``opdef.inplace``); the output and input 0 are both arena
    buffers (not a feed, variable, const, fetched or assigned value, nor a view of one)
    with the same shape and dtype; no later step reads input 0 or any view of it; and no
    other input of the op aliases input 0's memory. Semantics do not change: the planner
    just gives the output its input's buffer. One exception to "not a view": an ``addmm``
    may write over its addend, one row of a block no other step reads (``gemm_rows``).

    Returns the ids of those call nodes, for ``planner.plan_memory`` and ``stack_in_place``.
    """
    live = analyze(graph.nodes, graph.outputs)
    outside = outside_arena(graph)
    by_id = {n.id: n for n in graph.nodes}
    users = graph.users()
    marked: set[int] = set()
    for n in graph.nodes:
        if not (is_arena_value(n, outside) and n.opdef.inplace and n.inputs):
            continue
        if n.op == "addmm" and writes_row(n, by_id, users, graph.outputs):
            marked.add(n.id)  # over its row of a block (compiler/gemm_rows.py)
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


def plan_in_place(graph: Graph, marks: frozenset[int]) -> tuple[Plan, Slots]:
    """``stack_in_place(graph, plan_memory(graph, marks), marks)``, placing offsets once."""
    return stack_in_place(graph, plan_memory(graph, marks, placed=False), marks, placed=False)


def stack_in_place(graph: Graph, plan: Plan, marks: frozenset[int], *, placed: bool = True
                   ) -> tuple[Plan, Slots]:
    """Lets the operands of a ``stack`` be written straight into its slices (no copy).

    A stack qualifies when no later op overwrites it in place; an operand, when it is a call
    with a buffer of its own in ``plan`` (or one it took over in place) that no later op
    overwrites in place, and that it is the operand of no other such stack. Its value (and
    its views) then live in the stack's slice, and the stack's buffer is alive from the first
    such operand's step; the other operands are copied in at the stack's step. Offsets are
    placed again (greedy by size) for the new lifetimes. The values are the same bytes as
    with the copying stack, so planned and unplanned runs stay bit-identical.

    ``marks`` is the in-place set the plan was made with (:func:`mark_inplace`). Returns the
    new plan and ``{operand id: (stack id, index of its slice)}``. ``placed=False``: the
    plan's offsets are not placed yet (``plan_memory(..., placed=False)``); place them even
    when no stack qualifies.
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
        reads = Counter(n.inputs)  # (inputs.count per operand was T squared for T operands)
        for t, x in enumerate(n.inputs):
            node = graph[x]
            if (node.kind == "call" and x in buffer_of and live.root[x] == x
                    and x not in overwritten and x not in slots and x not in hosts
                    and reads[x] == 1
                    and node.dtype is n.dtype and steps[x].where in ("arena", "inplace")):
                # (the Ellipsis keeps the slice of a stack of scalars a 0-d view)
                chosen.append((x, (slice(None),) * axis + (t, Ellipsis)))
        chosen = without_early(chosen, live, live.step_of[n.id])
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
    if not slots and placed:
        return plan, slots
    end_left_chains(plan.buffer_of, buffer_of, lifetimes, live, slots)
    used = set(buffer_of.values())
    sizes = {b: size for b, size in plan.sizes.items() if b in used}
    lifetimes = {b: life for b, life in lifetimes.items() if b in used}
    offsets = place(sizes, lifetimes)
    new_steps = []
    for step in plan.steps:
        if step.node_id in buffer_of and buffer_of[step.node_id] != step.buffer:
            step = replace(step, buffer=buffer_of[step.node_id], offset=None, nbytes=0,
                           where="view")  # (it writes into the stack's slice)
        elif step.offset is not None and step.offset != offsets[step.buffer]:  # type: ignore[index]
            step = replace(step, offset=offsets[step.buffer])  # type: ignore[index]
        new_steps.append(step)
    return Plan(new_steps, buffer_of, offsets, sizes, lifetimes,
                {b: v for b, v in plan.nbytes.items() if b in used},
                {b: v for b, v in plan.names.items() if b in used}), slots
