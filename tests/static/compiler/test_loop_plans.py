"""Memory plans of loop bodies: planned once, reported by Session.plan, validated."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler.planner import PlanError


def rnn_loss():
    x = tf.placeholder(tf.float32, [16, 10, 8], name="x")
    lengths = tf.placeholder(tf.int32, [16], name="lengths")
    _, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(32), x, sequence_length=lengths,
                                 dtype=tf.float32)
    return x, lengths, tf.reduce_sum(state * state)


def test_session_plan_reports_each_body_arena_and_the_stack_per_iteration():
    with tf.Graph().as_default():
        x, lengths, loss = rnn_loss()
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        feed = {x: np.ones((16, 10, 8), np.float32), lengths: np.full(16, 7, np.int32)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            forward = sess.plan(loss, feed)
            training = sess.plan(train, feed)
            sess.run(train, feed)
    body = next(p for p in forward.loops if p.body == "body")
    assert body.plan.arena_bytes > 0 and body.saved_bytes_per_iteration == 0
    saved = [p.saved_bytes_per_iteration for p in training.loops if p.body == "body"]
    # the forward loop keeps each step's hidden state (16 x 32 float32) and step number
    # (int32: the gradient of reading step t of the input needs t), not its outputs; and
    # what the reverse step reads of its own step (residuals.py): the tanh (16 x 32
    # float32, for its derivative) and the running-sentence mask (16 x 1 bool)
    assert 16 * 32 * 4 + 4 + 16 * 32 * 4 + 16 in saved
    assert max(saved) < 16 * 10 * 32 * 4  # the output TensorArray is not kept per step
    assert "planned once, reused by every iteration" in training.format()


def test_the_validator_covers_loop_bodies():
    with tf.Graph().as_default():
        x, lengths, loss = rnn_loss()
        feed = {x: np.ones((16, 10, 8), np.float32), lengths: np.full(16, 3, np.int32)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            plan = sess.plan(loss, feed)
    plan.validate()
    inner = next(p.plan for p in plan.loops if len(p.plan.sizes) >= 2)
    a, b = list(inner.sizes)[:2]
    inner.offsets[b] = inner.offsets[a]
    inner.lifetimes[b] = inner.lifetimes[a]
    with pytest.raises(PlanError, match="overlap in the arena"):
        plan.validate()


def test_loop_variables_nobody_reads_are_pruned_before_the_body_is_compiled():
    from tapeflow.runtime import Spec
    from tapeflow.static.compiler import compile as build

    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float32, [4, 6, 3], name="x")
        outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(5), x, dtype=tf.float32)
        with tf.Session() as sess:  # and the pruned loop still computes the same state
            sess.run(tf.global_variables_initializer())
            data = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
            alone, (both, outs) = sess.run(state, {x: data}), sess.run([state, outputs],
                                                                       {x: data})
    np.testing.assert_array_equal(alone, both)
    np.testing.assert_array_equal(outs[:, -1], both)

    def loop_of(fetch):
        program = build(g.as_ir([fetch]), {x.node_id: Spec((4, 6, 3), tf.float32)})
        return next(n for n in program.graph.nodes if n.op == "while")

    # (step, outputs TensorArray, state) -> (step, state) when the outputs are not fetched
    assert loop_of(state).attrs["n_vars"] == 2
    assert len(loop_of(state).attrs["body"].graph.outputs) == 2
    assert loop_of(outputs).attrs["n_vars"] == 3


def _row_gradient_loop(sums_allowed, monkeypatch, steps=6):
    """d loss / d xs of a tanh recurrence over ``steps`` of the 6 rows of xs, reading xs[t]
    with tf.gather (the reverse loop sums that gradient one row per iteration), and the
    compiled reverse loop's runner."""
    from tapeflow.runtime import Spec
    from tapeflow.static.compiler import compile as build
    from tapeflow.static.compiler import loops

    if not sums_allowed:
        monkeypatch.setattr(loops, "find_sums", lambda *args: {})
    rng = np.random.default_rng(3)
    with tf.Graph().as_default() as g:
        xs = tf.placeholder(tf.float64, [6, 2, 3], name="xs")
        w = tf.constant(rng.normal(size=(3, 3)) * 0.5)
        _, h = tf.while_loop(lambda t, h: t < steps,
                             lambda t, h: (t + 1, tf.tanh(tf.matmul(h, w) + tf.gather(xs, t))),
                             [tf.constant(0), tf.zeros([2, 3], tf.float64)])
        (dxs,) = tf.gradients(tf.reduce_sum(h * h), [xs])
    program = build(g.as_ir([dxs]), {xs.node_id: Spec((6, 2, 3), tf.float64)},
                    CompileOptions().without("loop_hoist"))  # (the runner's own sums)
    reverse = next(n for n in program.graph.nodes if n.op == "while" and n.attrs["save"] is None)
    values, _ = program.run({xs.node_id: rng.normal(size=(6, 2, 3))}, {})
    return values[0], reverse.attrs["loop"]


def test_the_reverse_loop_sums_a_row_gradient_in_place_with_the_same_numbers(monkeypatch):
    fast, runner = _row_gradient_loop(True, monkeypatch)
    (step,) = runner.step.programs.values()
    # the step no longer zeroes and scatters into a (6, 2, 3) buffer every iteration
    assert runner.sums and not any(n.op == "scatter_add" for n in step.graph.nodes)
    plain, plain_runner = _row_gradient_loop(False, monkeypatch)
    assert not plain_runner.sums
    np.testing.assert_array_equal(fast, plain)  # bit for bit
    assert np.count_nonzero(fast) == fast.size


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_rows_summed_in_place_when_the_loop_runs_few_times_or_none(steps, monkeypatch):
    fast, runner = _row_gradient_loop(True, monkeypatch, steps)
    assert runner.sums
    plain, _ = _row_gradient_loop(False, monkeypatch, steps)
    np.testing.assert_array_equal(fast, plain)
    # rows the loop never read get no gradient; the accumulator is the runner's own copy
    assert not fast[steps:].any() and (steps == 0 or fast[:steps].all())


def _recurrence(slices_allowed, monkeypatch, steps=6):
    """d loss / d (w, xs) of h <- tanh(h w + xs[t]), and the compiled program."""
    from tapeflow.runtime import Spec
    from tapeflow.static.compiler import compile as build
    from tapeflow.static.compiler import loops

    if not slices_allowed:  # (the residuals' rows are slices too: both go)
        monkeypatch.setattr(loops, "find_slices", lambda *args: [])
        monkeypatch.setattr(loops, "save_residuals", lambda graph: graph)
    rng = np.random.default_rng(5)
    with tf.Graph().as_default() as g:
        xs = tf.placeholder(tf.float64, [6, 2, 3], name="xs")
        w = tf.placeholder(tf.float64, [3, 3], name="w")
        _, h = tf.while_loop(lambda t, h: t < steps,
                             lambda t, h: (t + 1, tf.tanh(tf.matmul(h, w) + tf.gather(xs, t))),
                             [tf.constant(0), tf.ones([2, 3], tf.float64)])
        grads = tf.gradients(tf.reduce_sum(h * h), [w, xs])
    program = build(g.as_ir([h, *grads]), {xs.node_id: Spec((6, 2, 3), tf.float64),
                                           w.node_id: Spec((3, 3), tf.float64)},
                    CompileOptions().without("loop_hoist"))  # (the runner's own slices)
    feeds = {xs.node_id: rng.normal(size=(6, 2, 3)), w.node_id: rng.normal(size=(3, 3)) * 0.5}
    return program, feeds


def test_the_runner_hands_the_step_the_rows_it_reads_with_the_same_numbers(monkeypatch):
    program, feeds = _recurrence(True, monkeypatch)
    values, _ = program.run(feeds, {})
    runners = {n.attrs["save"] is None: n.attrs["loop"] for n in program.graph.nodes
               if n.op == "while"}
    # forward: xs[t]; reverse: the saved step counter, the saved h and xs at that counter
    assert [len(runners[False].slices), len(runners[True].slices)] == [1, 3]
    for runner in runners.values():
        (step,) = runner.step.programs.values()
        assert not any(n.op == "take" for n in step.graph.nodes)
    plain, _ = _recurrence(False, monkeypatch)[0].run(feeds, {})
    for a, b in zip(values, plain, strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit: the same kernels on the same rows


def test_a_row_past_the_end_of_a_sliced_input_is_an_index_error(monkeypatch):
    from tapeflow.static.compiler.executor import ExecutionError

    program, feeds = _recurrence(True, monkeypatch, steps=7)
    with pytest.raises(ExecutionError, match="IndexError: take: index 6 out of range .* size 6"):
        program.run(feeds, {})


@pytest.mark.parametrize("steps", [0, 1, 6])
def test_the_forward_loop_keeps_what_the_reverse_step_would_recompute(steps, monkeypatch):

    program, feeds = _recurrence(True, monkeypatch, steps)
    values, _ = program.run(feeds, {})
    loops = {n.attrs["save"] is None: n for n in program.graph.nodes if n.op == "while"}
    forward, reverse = loops[False], loops[True]
    kept = [forward.attrs["body"].graph[k].op for k in forward.attrs["keep"]]
    assert kept == ["tanh"]  # (the tanh's output, for its derivative)
    if steps:  # the reverse step reads it and runs no forward op of the step again
        (step,) = reverse.attrs["loop"].step.programs.values()
        assert not {"tanh", "take"} & {n.op for n in step.graph.nodes}
        assert sum(n.op == "matmul" for n in step.graph.nodes) == 2  # d h and d w only
    monkeypatch.undo()
    without, _ = _recurrence(False, monkeypatch, steps)[0].run(feeds, {})
    for a, b in zip(values, without, strict=True):  # (what the forward step computed: the
        np.testing.assert_allclose(a, b, rtol=1e-13)  # same numbers as a replay, to rounding)



@pytest.mark.parametrize("steps", [0, 3])
def test_the_uncompiled_while_kernel_stacks_the_kept_nodes(steps):
    from tapeflow.graphs.control import WHILE, Body
    from tapeflow.graphs.ir import Graph, Node
    from tapeflow.runtime import dtypes

    f64, i32, b = dtypes.float64, dtypes.int32, dtypes.bool_
    t, x, n = (Node(0, "placeholder", "", (), {}, (), i32),
               Node(1, "placeholder", "", (), {}, (2,), f64),
               Node(2, "placeholder", "", (), {}, (), i32))
    cond = Body(Graph((t, x, n, Node(3, "call", "lt", (0, 2), {}, (), b)), (3,)), (0, 1, 2))
    one = Node(3, "const", "", (), {}, (), i32, value=np.int32(1))
    body = Body(Graph((t, x, n, one, Node(4, "call", "add", (0, 3), {}, (), i32),
                       Node(5, "call", "sin", (1,), {}, (2,), f64),
                       Node(6, "call", "mul", (5, 1), {}, (2,), f64)), (4, 6)), (0, 1, 2))
    start = np.array([0.5, 1.0])
    out = WHILE.kernel(np, np.int32(0), start, np.int32(steps), cond=cond, body=body, n_vars=2,
                       save=(1,), keep=(5,))
    xs = [start]
    for _ in range(steps):
        xs.append(np.sin(xs[-1]) * xs[-1])
    np.testing.assert_array_equal(out[1], xs[-1])
    np.testing.assert_array_equal(out[5], np.sin(np.array(xs[:-1])).reshape(steps, 2))
    assert out[5].shape == (steps, 2) and out[5].dtype == np.float64
