"""The loop runner's shortcuts give the plain loop's values bit for bit: the step compiled
without its masking for iterations where every sentence is alive (loop_variants.py), and
one compiled step for every loop length."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import loops
from tapeflow.static.compiler.loop_runner import LoopRunner

rng = np.random.default_rng(5)
X = rng.normal(size=(4, 6, 3))


def _rnn_graph(cell_type: str, dtype):
    """dynamic_rnn with sequence_length: (x, lengths, [loss, *gradients])."""
    cell = (tf.nn.rnn_cell.BasicRNNCell(5) if cell_type == "rnn"
            else tf.nn.rnn_cell.BasicLSTMCell(5))
    x = tf.placeholder(dtype, [4, 6, 3], name="x")
    lengths = tf.placeholder(tf.int32, [4], name="lengths")
    outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=dtype)
    final = state.h if cell_type == "lstm" else state
    loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(tf.sin(final))
    return x, lengths, [loss, *tf.gradients(loss, [*tf.trainable_variables(), x])]


def _with_and_without(monkeypatch, name: str, spy, lengths) -> list:
    """An LSTM's loss and gradients with ``loops.<name>`` spied on, then left out."""
    results = []
    for patched in (spy, lambda graph: graph):
        monkeypatch.setattr(loops, name, patched)
        with tf.Graph().as_default():
            tf.set_random_seed(2)
            x, n, fetches = _rnn_graph("lstm", tf.float64)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                results.append(sess.run(fetches, {x: X, n: np.array(lengths, np.int32)}))
    return results


def _bits(values) -> list[bytes]:
    return [np.ascontiguousarray(v).tobytes() for v in values]


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_steps_without_masking_give_the_masked_steps_bits(monkeypatch, cell_type, dtype):
    used = []
    alive_run = LoopRunner._alive_run

    def spy(self, program, feeds):
        used.append(self)
        return alive_run(self, program, feeds)

    monkeypatch.setattr(LoopRunner, "_alive_run", spy)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x, lengths, fetches = _rnn_graph(cell_type, dtype)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            # some rows alive to the end, none, all: the shortcut runs 2, 0 and 6 steps
            for n in ([6, 2, 3, 6], [0, 4, 6, 1], [6, 6, 6, 6]):
                feed = {x: X.astype(dtype.np), lengths: np.array(n, np.int32)}
                used.clear()
                fast = sess.run(fetches, feed)
                both_loops = len({id(a) for a in used})
                with monkeypatch.context() as m:  # the plain masked step every iteration
                    m.setattr(LoopRunner, "_guard", lambda self, feeds: (None, 0, None))
                    plain = sess.run(fetches, feed)
                assert _bits(fast) == _bits(plain)
                assert both_loops == (0 if min(n) == 0 else 2)  # forward and reverse


def test_one_compiled_reverse_step_serves_every_loop_length(monkeypatch):
    compiled = []
    compile_for = loops.BodyProgram.compile_for

    def spy(self, specs):
        before = len(self.programs)
        program = compile_for(self, specs)
        if len(self.programs) > before:
            compiled.append(self.body.name)
        return program

    monkeypatch.setattr(loops.BodyProgram, "compile_for", spy)
    with tf.Graph().as_default():
        x, lengths, fetches = _rnn_graph("rnn", tf.float64)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(fetches, {x: X, lengths: np.array([2, 3, 3, 1], np.int32)})
            first = sorted(compiled)
            for n in ([6, 2, 3, 6], [5, 4, 4, 1], [1, 1, 1, 1]):  # stacks of 6, 5, 1 rows
                sess.run(fetches, {x: X, lengths: np.array(n, np.int32)})
    # (per loop: the test and the step, and for the step its all-alive variant)
    assert sorted(compiled) == first and len(first) == 6


def test_an_lstm_steps_split_gradient_is_one_concat_with_the_sums_bits(monkeypatch):
    joined = []
    join = loops.join_split_gradients

    def spy(body):
        result = join(body)
        joined.extend(n for n in result.graph.nodes
                      if n.op == "concat" and body.graph[n.id].op != "concat")
        return result

    results = _with_and_without(monkeypatch, "join_split_gradients", spy, [6, 2, 3, 5])
    assert len(joined) == 1 and len(joined[0].inputs) == 4  # (the reverse step's four gates)
    assert _bits(results[0]) == _bits(results[1])


def test_slices_that_leave_a_gap_keep_their_sum():
    from tapeflow.graphs.control import Body
    from tapeflow.static.compiler.gate_grads import join_split_gradients

    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float64, [2, 6], name="x")
        loss = tf.reduce_sum(tf.sin(x[:, :2])) + tf.reduce_sum(x[:, 3:] ** 2)  # (2:3 unread)
        grad, = tf.gradients(loss, [x])
    body = Body(g.as_ir([grad]), (x.node_id,))
    assert join_split_gradients(body) is body


def _counted(monkeypatch, counted: bool, step: int, test, start: int, limit, feeds):
    found = []
    find = loops.find_counter

    def spy(*args):
        found.append(find(*args) if counted else None)
        return found[-1]

    monkeypatch.setattr(loops, "find_counter", spy)
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float64, [2], name="x")
        t, y = tf.while_loop(  # (y's gradient reads the counter's saved stack)
            lambda t, y: test(t, n),
            lambda t, y: (t + step, y * 1.5 + tf.sin(y) * tf.cast(t, tf.float64)),
            [tf.constant(start), x], maximum_iterations=limit)
        grad = tf.gradients(tf.reduce_sum(y), [x])[0]
        with tf.Session() as sess:
            values = [sess.run([t, y, grad], {n: value, x: np.array([0.1, -0.2])})
                      for value in feeds]
    return values, found


@pytest.mark.parametrize(("step", "test", "start", "limit"), [
    (1, tf.less, 0, None),  # dynamic_rnn's loop
    (-1, tf.greater_equal, 5, None),  # its gradient's (t - 1 >= 0)
    (3, tf.less_equal, -4, None),
    (1, tf.greater, 0, 20),  # a bound that never stops it: the limit does, past the ticks
])
def test_a_counted_loop_gives_the_kernels_values(monkeypatch, step, test, start, limit):
    bounds = [-3, 0, 1, 2, 7, 11]
    got, found = _counted(monkeypatch, True, step, test, start, limit, bounds)
    want, _ = _counted(monkeypatch, False, step, test, start, limit, bounds)
    assert found and found[0] is not None and found[0].step == step
    for (t1, *y1), (t2, *y2) in zip(got, want, strict=True):
        assert t1 == t2 and t1.dtype == t2.dtype and t1.shape == () and _bits(y1) == _bits(y2)


def test_captured_values_no_body_reads_are_not_loop_inputs(monkeypatch):
    dropped = []
    prune = loops.prune_captured

    def spy(graph):
        result = prune(graph)
        inputs = [len(n.inputs) for g in (graph, result) for n in g.nodes if n.op == "while"]
        dropped.append(sum(inputs[:len(inputs) // 2]) - sum(inputs[len(inputs) // 2:]))
        return result

    results = _with_and_without(monkeypatch, "prune_captured", spy, [6, 0, 3, 5])
    # (the gradient loop's copy of the outputs' zero buffer, and more, are not fed to it)
    assert max(dropped) > 0
    assert _bits(results[0]) == _bits(results[1])


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_the_generated_loop_gives_the_generic_loops_bits(monkeypatch, cell_type):
    from tapeflow.static.compiler import loop_codegen, loop_runner

    shapes = []
    loop_for = loop_codegen.loop_for
    monkeypatch.setattr(loop_runner, "loop_for", lambda shape: shapes.append(shape) or
                        loop_for(shape))
    with tf.Graph().as_default():
        tf.set_random_seed(4)
        x, lengths, fetches = _rnn_graph(cell_type, tf.float32)
        feed = {x: X.astype(np.float32), lengths: np.array([6, 2, 0, 5], np.int32)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            generated = sess.run(fetches, feed)
            with monkeypatch.context() as m:  # (every iteration in the runner's own loop)
                m.setattr(loop_runner.LoopRunner, "_guard", lambda self, feeds: (None, 0, None))
                m.setattr(loop_runner, "_keeps_shapes", lambda program, arrays: False)
                generic = sess.run(fetches, feed)
                m.setattr(loop_runner, "_keeps_shapes", lambda program, arrays: True)
                plain = sess.run(fetches, feed)  # (the generated loop, no all-alive steps)
    assert {s.counted for s in shapes} == {True} and len(shapes) == 4
    assert _bits(generated) == _bits(generic) == _bits(plain)
