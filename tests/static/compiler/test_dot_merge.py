"""The dot-merge pass: matmuls sharing an operand across unrolled steps become one GEMM.

The merged products add in another order, so values with the pass on equal those with it
off to 1e-12 relative in float64 (not bit for bit); with the pass on, planned and unplanned
runs are bit-identical. Graphs are hand-built IR (``GraphBuilder``) or TF1-style RNNs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from builders import GraphBuilder, evaluate_graph, ops_of, rnn_graph, run_checked, sources_for
from tapeflow.graphs import Node
from tapeflow.runtime import R, Spec, dtypes, encode_index
from tapeflow.static.compiler import CompileOptions, compile
from tapeflow.static.compiler.dot_merge import (
    block_size,
    dot_merge,
    merge_shared_operand,
    merge_sums,
)
from tapeflow.static.compiler.rewrite import stable_toposort

f64 = dtypes.float64
RTOL = 1e-12


def step_slices(b: GraphBuilder, x: Any, steps: int) -> list[Any]:
    return [b.call("getitem", x, index=encode_index((slice(None), t, slice(None))))
            for t in range(steps)]




def assert_close(got: list[Any], want: list[Any]) -> None:
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * float(np.max(np.abs(b))))


def test_input_projections_of_all_steps_become_one_matmul_of_the_whole_input() -> None:
    b = GraphBuilder()
    x, w = b.placeholder((4, 5, 3), f64), b.variable((3, 6), f64)
    outs = [R.tanh(R.matmul(xt, w)) for xt in step_slices(b, x, 5)]
    g = b.graph(*outs)
    merged, changed = run_checked(merge_shared_operand, g)
    assert changed and ops_of(g).count("matmul") == 5 and ops_of(merged).count("matmul") == 1
    # x[:, 0], ..., x[:, 4] stacked along axis 1 is x itself: nothing is copied
    assert "stack" not in ops_of(merged)
    sources = sources_for(g)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))


def test_a_recurrence_is_not_merged_into_a_cycle() -> None:
    b = GraphBuilder()
    h, w = b.placeholder((4, 6), f64), b.variable((6, 6), f64)
    for _ in range(4):
        h = R.tanh(R.matmul(h, w))  # each step's operand needs the previous product
    g = b.graph(h)
    assert dot_merge(g) == (g, False)


@pytest.mark.parametrize("depth", [2, 3])
def test_a_weight_used_by_consecutive_matmuls_is_not_merged_into_a_cycle(depth: int) -> None:
    # (x @ w) @ w: the second product's operand is the first product (issue 18, item 12)
    b = GraphBuilder()
    x, x2, w = b.placeholder((3, 4), f64), b.placeholder((3, 4), f64), b.variable((4, 4), f64)
    h = x
    for _ in range(depth):
        h = R.matmul(h, w)
    side = R.matmul(x2, w)  # independent of the chain: it may merge with its first product
    g = b.graph(h, side)
    merged, _ = run_checked(dot_merge, g)
    sources = sources_for(g)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))
    want = sources[x.id]
    for _ in range(depth):
        want = want @ sources[w.id]
    assert_close(evaluate_graph(merged, sources)[:1], [want])


def test_assembling_a_cycle_is_refused() -> None:
    f32 = dtypes.float32
    a = Node(0, "call", "neg", (1,), {}, (2,), f32)
    c = Node(1, "call", "neg", (0,), {}, (2,), f32)
    assert stable_toposort([a, c]) is None


@pytest.mark.parametrize("merge", [True, False])
def test_training_through_consecutive_matmuls_of_one_weight(merge: bool) -> None:
    rng = np.random.default_rng(3)
    xv, wv = rng.normal(size=(5, 4)), rng.normal(size=(4, 4)) * 0.5
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 4], name="x")
        w = tf.Variable(wv, name="w")
        y = tf.matmul(tf.matmul(x, w), w)
        loss = tf.reduce_sum(y * y)
        step = tf.train.GradientDescentOptimizer(1e-3).minimize(loss)
        with tf.Session(options=CompileOptions(dot_merge=merge)) as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_allclose(sess.run(y, {x: xv}), xv @ wv @ wv, rtol=1e-12)
            first_loss, _ = sess.run([loss, step], {x: xv})
            new_w = sess.run(w)
    assert first_loss == pytest.approx(float(np.sum((xv @ wv @ wv) ** 2)), rel=1e-12)
    # d/dw sum((x w w)^2) = x^T G w^T + (x w)^T G, with G = 2 x w w
    grad_y = 2 * xv @ wv @ wv
    assert_close([new_w], [wv - 1e-3 * (xv.T @ grad_y @ wv.T + (xv @ wv).T @ grad_y)])


def test_weight_gradient_sum_over_steps_becomes_one_matmul() -> None:
    b = GraphBuilder()
    x = b.placeholder((4, 5, 3), f64)
    grads = [b.placeholder((4, 6), f64) for _ in range(5)]
    total = None
    for xt, gt in zip(step_slices(b, x, 5), grads, strict=True):
        term = b.call("matmul", xt, gt, transpose_a=True)  # x_t^T dA_t
        total = term if total is None else R.add(total, term)
    g = b.graph(total)
    merged, changed = run_checked(merge_sums, g)
    assert changed and ops_of(merged).count("matmul") == 1 and "add" not in ops_of(merged)
    assert ops_of(merged).count("stack") == 1  # the dA_t; the x_t are x itself
    assert merged[total.id].op == "matmul"  # the sum keeps its id: users need no renaming
    sources = sources_for(g, 1)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))


@pytest.mark.parametrize("steps", [16, 20, 50])
def test_many_steps_merge_in_blocks_of_about_sqrt_steps(steps: int) -> None:
    b = GraphBuilder()
    x, w = b.placeholder((3, steps, 2), f64), b.variable((2, 4), f64)
    grads = [b.placeholder((3, 4), f64) for _ in range(steps)]
    outs, total = [], None
    for xt, gt in zip(step_slices(b, x, steps), grads, strict=True):
        outs.append(R.tanh(R.matmul(xt, w)))  # the input projection of step t
        term = b.call("matmul", xt, gt, transpose_a=True)  # and its weight gradient term
        total = term if total is None else R.add(total, term)
    g = b.graph(total, *outs)
    merged, changed = run_checked(dot_merge, g)
    blocks = -(-steps // block_size(steps))
    assert block_size(steps) == round(steps ** 0.5) and changed
    # one product per block for the projections and one per block for the gradient
    assert ops_of(merged).count("matmul") == 2 * blocks
    assert ops_of(merged).count("add") == blocks - 1  # the blocks' running sum
    sources = sources_for(g, 4)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))


def test_a_gradient_block_runs_as_soon_as_its_steps_are_done() -> None:
    # the backward of 16 steps in reverse: each block's product comes right after the
    # gradient of its earliest step, before any gradient of the next block is made
    b = GraphBuilder()
    hs = [b.placeholder((3, 4), f64) for _ in range(16)]
    g_t, total, made = b.placeholder((3, 4), f64), None, {}
    for t in reversed(range(16)):
        g_t = made[t] = R.tanh(g_t)
        term = b.call("matmul", hs[t], g_t, transpose_a=True)
        total = term if total is None else R.add(total, term)
    g = b.graph(total)
    merged, _ = run_checked(merge_sums, g)
    position = {n.id: k for k, n in enumerate(merged.nodes)}
    products = sorted(position[n.id] for n in merged.nodes if n.op == "matmul")
    firsts = [position[made[t].id] for t in (12, 8, 4, 0)]  # each block's last operand
    assert len(products) == 4
    for product, first, later in zip(products, firsts, [*firsts[1:], len(merged.nodes)],
                                     strict=True):
        assert first < product < later
    sources = sources_for(g, 5)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))


def test_bias_gradients_reuse_the_stack_of_the_weight_gradient() -> None:
    b = GraphBuilder()
    hs = [b.placeholder((4, 6), f64) for _ in range(3)]
    ds = [b.placeholder((4, 6), f64) for _ in range(3)]
    bias = b.variable((6,), f64)
    dw = db = None
    for h, d in zip(hs, ds, strict=True):
        dw_t, db_t = b.call("matmul", h, d, transpose_a=True), R.sum_to(d, bias)
        dw = dw_t if dw is None else R.add(dw, dw_t)
        db = db_t if db is None else R.add(db, db_t)
    extra = R.matmul(hs[0], R.transpose(ds[0]))  # other ops stay as they are
    g = b.graph(dw, db, extra)
    merged, changed = run_checked(dot_merge, g)
    assert changed and ops_of(merged).count("stack") == 2  # the h_t and the dA_t, once each
    assert ops_of(merged).count("sum_to") == 1 and "add" not in ops_of(merged)
    sources = sources_for(g, 2)
    assert_close(evaluate_graph(merged, sources), evaluate_graph(g, sources))


def test_terms_read_elsewhere_or_fetched_are_left_alone() -> None:
    b = GraphBuilder()
    a = [b.placeholder((4, 3), f64) for _ in range(3)]
    d = [b.placeholder((4, 6), f64) for _ in range(3)]
    terms = [b.call("matmul", x, y, transpose_a=True) for x, y in zip(a, d, strict=True)]
    total = R.add(R.add(terms[0], terms[1]), terms[2])
    g = b.graph(total, terms[0], terms[1])  # two terms are fetched too: one left to merge
    assert merge_sums(g) == (g, False)


@pytest.mark.parametrize("operand_draws", [True, False])
def test_random_draws_keep_their_order_or_nothing_merges(operand_draws: bool) -> None:
    b = GraphBuilder()
    x0, x1, w = b.placeholder((4, 3), f64), b.placeholder((4, 3), f64), b.variable((3, 2), f64)
    first = R.matmul(x0, w)
    noise_a = b.call("random_normal", shape=(4, 2), dtype=f64)
    noise_b = b.call("random_normal", shape=(4, 3), dtype=f64)
    # the merged matmul comes before `first`: it would pull noise_b ahead of noise_a
    second = R.matmul(R.add(x1, noise_b if operand_draws else x1), w)
    g = b.graph(R.add(first, noise_a), second, noise_b)
    merged, changed = run_checked(dot_merge, g)
    draws = [n.id for n in merged.nodes if n.op == "random_normal"]
    assert draws == [noise_a.id, noise_b.id] and changed is not operand_draws




def train_rnn(options: tf.CompileOptions, runs: int = 4) -> tuple[list[Any], list[Any], Any]:
    graph, init, feed, fetches, params = rnn_graph()
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run(list(fetches), feed)[0] for _ in range(runs)]
        entry = list(sess._cache.values())[-1]
        return losses, sess.run(params), entry.program


def test_rnn_training_with_the_pass_on_equals_off_to_float_tolerance() -> None:
    on_losses, on_params, on = train_rnn(tf.CompileOptions())
    off_losses, off_params, off = train_rnn(tf.CompileOptions(dot_merge=False))
    assert_close(on_losses, off_losses)
    assert_close(on_params, off_params)
    assert on_losses[-1] < on_losses[0]
    count = {name: ops_of(p.graph).count("matmul") for name, p in (("on", on), ("off", off))}
    # 6 input projections -> 1; 6 w_ih and 6 w_hh gradient terms -> 1 each
    assert count["off"] - count["on"] == 5 + 5 + 5, count
    assert "dot_merge" in [r.name for r in on.passes]
    assert "dot_merge" not in [r.name for r in off.passes]


@pytest.mark.parametrize("dot_merge_on", [True, False])
def test_rnn_planned_and_unplanned_are_bit_identical(dot_merge_on: bool) -> None:
    planned = train_rnn(tf.CompileOptions(dot_merge=dot_merge_on))
    unplanned = train_rnn(tf.CompileOptions(dot_merge=dot_merge_on, plan_memory=False))
    assert planned[0] == unplanned[0]
    # with the pass on, the h_t and dA_t stacks are written in place (not copied)
    assert bool(planned[2].executor.slots) is dot_merge_on
    for a, b in zip(planned[1], unplanned[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_compiler_switch_and_plan_validate() -> None:
    b = GraphBuilder()
    x, w = b.placeholder((3, 4, 2), f64), b.variable((2, 5), f64)
    y = R.sum(R.stack(*[R.matmul(xt, w) for xt in step_slices(b, x, 4)], axis=0))
    g = b.graph(y)
    specs = {x.id: Spec((3, 4, 2), f64)}
    on = compile(g, specs)
    off = compile(g, specs, CompileOptions(dot_merge=False))
    on.plan.validate()
    assert ops_of(on.graph).count("matmul") == 1 and ops_of(off.graph).count("matmul") == 4
    sources = sources_for(g, 3)
    feeds, variables = {x.id: sources[x.id]}, {w.id: sources[w.id]}
    assert_close(on.run(feeds, variables)[0], off.run(feeds, variables)[0])


def test_stack_operands_are_written_straight_into_the_stack() -> None:
    b = GraphBuilder()
    x = b.placeholder((3, 4), f64)
    hs = [R.tanh(R.mul(x, b.const(np.float64(k + 1)))) for k in range(3)]
    later = R.exp(hs[1])  # read after the stack too: it must stay intact in its slice
    s = R.stack(x, *hs, axis=0)  # the feed is copied in; the tanh outputs are written there
    scalars = R.stack(*[R.neg(R.sum(h)) for h in hs])  # 0-d slices must be views too
    squares = R.mul(R.stack(hs[2], hs[0]), 2.0)  # overwrites its stack in place: not elided
    g = b.graph(R.sum(s, axis=0), R.sum(later), R.sum(scalars), squares)
    feeds = {x.id: np.linspace(-1, 1, 12).reshape(3, 4)}
    specs = {x.id: Spec((3, 4), f64)}
    planned = compile(g, specs)
    unplanned = compile(g, specs, CompileOptions(plan_memory=False))
    planned.plan.validate()
    assert set(planned.executor.slots) == {h.id for h in hs} | set(planned.graph[scalars.id].inputs)
    assert f"copyto(c{s.id}_0, v{x.id})" in planned.executor.source
    for _ in range(2):
        got, want = planned.run(feeds, {})[0], unplanned.run(feeds, {})[0]
        for a, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, w)
