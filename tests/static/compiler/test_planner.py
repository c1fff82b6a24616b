"""The memory planner: lifetimes, aliasing, greedy-by-size offsets, the validator."""

from __future__ import annotations

import numpy as np
import pytest
from builders import GraphBuilder, mlp_training_graph
from tapeflow.graphs import Graph, verify
from tapeflow.graphs.liveness import analyze
from tapeflow.runtime import ALIGNMENT, R, Spec, dtypes
from tapeflow.static.compiler.passes import reorder_for_memory
from tapeflow.static.compiler.pipeline import specialize
from tapeflow.static.compiler.planner import (
    Plan,
    PlanError,
    greedy_by_size,
    mark_inplace,
    plan_memory,
)


def chain(n: int, shape: tuple[int, ...] = (10, 10)) -> Graph:
    b = GraphBuilder()
    x = b.placeholder(shape)
    y = x
    for k in range(n):
        y = R.exp(y) if k % 2 else R.tanh(y)
    return b.graph(R.sum(y))


def test_liveness_records_first_and_last_steps() -> None:
    b = GraphBuilder()
    x = b.placeholder((3,))
    a = R.exp(x)          # step 0
    c = R.neg(a)          # step 1
    d = R.add(a, c)       # step 2: last use of a and c
    live = analyze(b.graph(d).nodes, [d.id])
    assert live.lifetime(a.id) == (0, 2) and live.lifetime(c.id) == (1, 2)
    assert live.step_of[x.id] == -1 and live.last_use[d.id] == live.end == 3


def test_a_chain_needs_two_buffers_and_one_in_place() -> None:
    plan = plan_memory(chain(8))
    one = 10 * 10 * 4
    assert plan.naive_bytes == 8 * 448  # 400 bytes rounded up to 64
    assert plan.arena_bytes == 2 * 448 == plan.lower_bound_bytes
    assert plan.nbytes[0] == one
    in_place = plan_memory(chain(8), mark_inplace(chain(8)))
    assert in_place.arena_bytes == 448 and len(set(in_place.buffer_of.values())) == 1
    assert [s.where for s in in_place.steps] == ["arena"] + ["inplace"] * 7 + ["out"]
    plan.validate()
    in_place.validate()


def test_sizes_come_from_the_real_dtype_and_offsets_are_aligned() -> None:
    b = GraphBuilder()
    x = b.placeholder((3,), dtypes.float64)
    a = R.exp(x)
    i = b.call("argmax", a)
    c = R.cast(a, dtype=dtypes.float16)
    m = R.mul(R.cast(i, dtype=dtypes.float16), c)
    plan = plan_memory(b.graph(R.sum(m)))
    by_node = {s.node_id: s for s in plan.steps}
    assert by_node[a.id].nbytes == 24 and by_node[i.id].nbytes == 8
    assert by_node[c.id].nbytes == 6
    assert all(off % ALIGNMENT == 0 for off in plan.offsets.values())
    assert all(size % ALIGNMENT == 0 for size in plan.sizes.values())
    plan.validate()


def test_views_share_their_base_and_keep_it_alive() -> None:
    b = GraphBuilder()
    x = b.placeholder((4, 6))
    a = R.exp(x)                        # step 0
    v = R.reshape(a, shape=(6, 4))      # step 1, a view of a
    c = R.tanh(x)                       # step 2
    d = R.matmul(v, c)                  # step 3: reads a through v
    plan = plan_memory(b.graph(R.sum(d)))
    assert plan.buffer_of[v.id] == plan.buffer_of[a.id]
    assert plan.lifetimes[plan.buffer_of[a.id]] == (0, 3)
    assert plan.buffer_of[a.id] != plan.buffer_of[c.id]
    assert plan.offsets[plan.buffer_of[a.id]] != plan.offsets[plan.buffer_of[c.id]]
    assert {s.node_id: s.where for s in plan.steps}[v.id] == "view"


def test_sources_fetched_and_assigned_values_live_outside_the_arena() -> None:
    g, h = mlp_training_graph()
    specs = {h["x"].id: Spec((4, 2), dtypes.float32), h["y"].id: Spec((4, 2), dtypes.float32)}
    g = specialize(g, specs).graph
    plan = plan_memory(g)
    outside = {h["x"].id, h["y"].id, h["loss"].id} | {p.id for p in h["params"]}
    outside |= {g[u.id].inputs[1] for u in h["updates"]}
    assert not outside & set(plan.buffer_of)
    where = {s.node_id: s.where for s in plan.steps}
    assert where[h["loss"].id] == "out"
    plan.validate()


def test_greedy_by_size_reuses_memory_of_dead_buffers() -> None:
    sizes = {0: 256, 1: 128, 2: 128, 3: 64}
    lifetimes = {0: (0, 1), 1: (1, 2), 2: (2, 3), 3: (3, 4)}
    offsets = greedy_by_size(sizes, lifetimes)
    assert offsets[0] == 0 and offsets[1] == 256  # alive together at step 1
    assert offsets[2] == 0  # buffer 0 died at step 1
    plan = Plan([], {}, offsets, sizes, lifetimes)
    plan.validate()
    assert plan.arena_bytes == 384


def test_validate_catches_overlapping_live_buffers() -> None:
    sizes = {0: 128, 1: 128}
    plan = Plan([], {}, {0: 0, 1: 64}, sizes, {0: (0, 2), 1: (2, 3)})
    with pytest.raises(PlanError, match="overlap"):
        plan.validate()
    Plan([], {}, {0: 0, 1: 64}, sizes, {0: (0, 1), 1: (2, 3)}).validate()  # never both alive
    with pytest.raises(PlanError, match="aligned"):
        Plan([], {}, {0: 0, 1: 160}, sizes, {0: (0, 1), 1: (0, 1)}).validate()


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_get_valid_tight_plans(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.placeholder((8, 8))
    values = [x]
    for _ in range(40):
        a = values[rng.integers(len(values))]
        kind = rng.integers(4)
        if kind == 0:
            y = R.tanh(a)
        elif kind == 1:
            y = R.add(a, values[rng.integers(len(values))])
        elif kind == 2:
            y = R.matmul(a, values[rng.integers(len(values))])
        else:
            y = R.transpose(a)
        values.append(y)
    outs = [values[-1], values[len(values) // 2]]
    graph = b.graph(*outs)
    for marks in (frozenset(), mark_inplace(graph)):
        plan = plan_memory(graph, marks)
        plan.validate()
        assert plan.lower_bound_bytes <= plan.arena_bytes <= plan.naive_bytes
        assert len(plan.live_bytes_per_step()) == len(plan.steps)


def test_format_shows_steps_and_the_three_numbers() -> None:
    plan = plan_memory(chain(3))
    text = str(plan)
    assert "naive_bytes: 1344" in text and "arena_bytes: 896" in text
    assert "lower_bound_bytes: 896" in text and "tanh" in text
    assert "more steps" in plan.format(limit=2)


def test_reorder_folds_partial_sums_into_a_running_total() -> None:
    b = GraphBuilder()
    x = b.placeholder((16, 16))
    parts = []
    h = x
    for _ in range(6):
        h = R.tanh(R.matmul(h, x))
        parts.append(R.exp(h))  # one partial per step, like a weight's gradient in an RNN
    total = parts[0]
    for p in parts[1:]:  # summed only at the end, as gradients() creates the adds
        total = R.add(total, p)
    g = b.graph(R.sum(total))
    reordered, changed = reorder_for_memory(g)
    verify(reordered)
    assert changed and sorted(n.id for n in reordered.nodes) == sorted(n.id for n in g.nodes)
    before, after = plan_memory(g), plan_memory(reordered)
    assert after.lower_bound_bytes < before.lower_bound_bytes
    assert after.lower_bound_bytes <= 4 * 1024 + 64  # running total, newest h, newest part
    assert reorder_for_memory(reordered) == (reordered, False)


def test_reorder_never_moves_random_draws() -> None:
    b = GraphBuilder()
    x = b.placeholder((8, 8))
    draws = [b.call("random_normal", shape=(8, 8), generator=None) for _ in range(3)]
    total = R.add(R.add(R.mul(x, draws[0]), R.mul(x, draws[1])), R.mul(x, draws[2]))
    reordered, _ = reorder_for_memory(b.graph(total))
    order = [n.id for n in reordered.nodes if n.op == "random_normal"]
    assert order == [d.id for d in draws]
