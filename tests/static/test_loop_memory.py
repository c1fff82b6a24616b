"""The memory a loop runs in: stacks written in place (loop_stacks.py) with the bits of the
lists they replace, a peak of one copy of the stacks, a bounded cache of generated loops,
and dead loop variables pruned from a loop that keeps values for its reverse loop."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import loop_codegen, loop_runner, loop_stacks, loops
from tapeflow.static.compiler.loop_counter import Counter
from tapeflow.static.compiler.residuals import save_residuals

rng = np.random.default_rng(7)
X = rng.normal(size=(4, 6, 3))
LENGTHS = np.array([6, 2, 0, 5], np.int32)


def _bits(values) -> list[bytes]:
    return [np.ascontiguousarray(v).tobytes() for v in values]


def _rnn(cell_type: str, dtype, feed_lengths=LENGTHS) -> list:
    """dynamic_rnn's loss and gradients (weights and inputs) on X."""
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        cell = (tf.nn.rnn_cell.BasicRNNCell(5) if cell_type == "rnn"
                else tf.nn.rnn_cell.BasicLSTMCell(5))
        x = tf.placeholder(dtype, [4, 6, 3], name="x")
        lengths = tf.placeholder(tf.int32, [4], name="lengths")
        outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=dtype)
        final = state.h if cell_type == "lstm" else state
        loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(tf.sin(final))
        fetches = [loss, *tf.gradients(loss, [*tf.trainable_variables(), x])]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(fetches, {x: X.astype(dtype.np), lengths: feed_lengths})


def _spied(monkeypatch, name: str, calls: list) -> None:
    """``loop_runner.<name>`` recording each call's result in ``calls``."""
    real = getattr(loop_runner, name)
    monkeypatch.setattr(loop_runner, name, lambda *a: calls.append(real(*a)) or calls[-1])


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_stacks_written_in_place_give_the_joined_lists_bits(monkeypatch, cell_type, dtype):
    made: list = []
    _spied(monkeypatch, "in_place", made)
    in_place = _rnn(cell_type, dtype)
    assert made and all(s is not None for s in made)  # (forward and reverse loops)
    monkeypatch.setattr(loop_runner, "in_place", lambda *a: None)  # every value in a list
    assert _bits(in_place) == _bits(_rnn(cell_type, dtype))


def test_a_counted_loop_makes_exactly_the_rows_it_runs(monkeypatch):
    sizes: list = []
    _spied(monkeypatch, "expected", sizes)

    def grow(*args):  # (a prediction short of the rows: fail at once, not loop for ever)
        pytest.fail("a counted loop outran the rows expected for it")

    monkeypatch.setattr(loop_stacks.Stacks, "grow", grow)
    _rnn("rnn", tf.float64, np.array([3, 1, 3, 2], np.int32))
    assert sizes == [3, 3]  # (the forward loop's 3 steps, the reverse's 3)


def _doubling(y0: float, stop: float):
    """A loop whose test reads a value, not a counter: y *= 1.25 while y < stop; y and
    dy/dy0 (the gradient reads every saved y)."""
    with tf.Graph().as_default():
        y = tf.placeholder(tf.float64, [2], name="y")
        out = tf.while_loop(lambda v: tf.reduce_max(v) < stop, lambda v: v * 1.25 + 0.01 *
                            tf.sin(v), [y])
        grad, = tf.gradients(tf.reduce_sum(out), [y])
        with tf.Session() as sess:
            return sess.run([out, grad], {y: np.array([y0, y0 / 2])})


def test_a_loop_that_outruns_its_rows_doubles_them(monkeypatch):
    grown = []
    grow = loop_stacks.Stacks.grow
    monkeypatch.setattr(loop_stacks.Stacks, "grow", lambda self, xp, count, limit: (
        grown.append(count) or grow(self, xp, count, limit)))
    values = _doubling(1.0, 1e4)  # (42 iterations: 16 rows, then 32, then 64)
    assert grown == [16, 32]
    monkeypatch.setattr(loop_runner, "in_place", lambda *a: None)
    assert _bits(values) == _bits(_doubling(1.0, 1e4))


@pytest.mark.parametrize(("step", "test"), [(1, "lt"), (2, "lt"), (3, "le"), (-1, "ge"),
                                            (-2, "gt"), (1, "gt"), (-1, "le")])
def test_the_rows_expected_are_the_iterations_a_counter_runs(step, test):
    counter = Counter(0, 0, step, test, None, None)
    compare = {"lt": np.less, "le": np.less_equal, "gt": np.greater,
               "ge": np.greater_equal}[test]
    for start in range(-7, 8):
        for end in range(-7, 8):
            if not compare(start, end):
                continue  # (the loop runs once: the next value passed its test)
            t, runs = start, 0
            while compare(t, end) and runs < 100:
                t, runs = t + step, runs + 1
            got = loop_stacks.expected(counter, start, end, 1, None)
            assert got == (1 + runs if runs < 100 else loop_stacks.FIRST_ROWS)
            assert loop_stacks.expected(counter, start, end, 1, 3) == min(got, 3)


def test_a_loop_peaks_at_one_copy_of_its_stacks(monkeypatch):
    peaks = []
    call = loop_runner.LoopRunner.__call__

    def measured(self, xp, args, limit, save):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            found = call(self, xp, args, limit, save)
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        stacks = sum(a.nbytes for a in found[self.n_vars:] if hasattr(a, "nbytes"))
        peaks.append((peak, stacks))
        return found

    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [1, 256], name="x")
        w = tf.constant(rng.normal(size=(256, 256)) / 16)
        _, h = tf.while_loop(lambda t, h: t < 200, lambda t, h: (t + 1, tf.tanh(h @ w)),
                             [tf.constant(0), x])
        grad, = tf.gradients(tf.reduce_sum(h), [x])
        with tf.Session() as sess:
            sess.run(grad, {x: rng.normal(size=(1, 256))})  # (compiled first)
            monkeypatch.setattr(loop_runner.LoopRunner, "__call__", measured)
            sess.run(grad, {x: rng.normal(size=(1, 256))})
    peak, stacks = peaks[0]  # (the forward loop: h and tanh(h @ w), 200 rows of 2 KiB each)
    assert stacks >= 2 * 200 * 256 * 8
    assert peak < 1.25 * stacks  # (a list of rows joined at the end: twice the stacks)


def test_the_generated_loops_cache_keeps_the_most_recent(monkeypatch):
    monkeypatch.setattr(loop_codegen, "MAX_LOOPS", 4)
    monkeypatch.setattr(loop_codegen, "_LOOPS", type(loop_codegen._LOOPS)())
    shapes = [loop_codegen.Shape(0, 0, 0, kept, 1, False, False, False, 1)
              for kept in range(6)]
    made = [loop_codegen.loop_for(s) for s in shapes]
    assert list(loop_codegen._LOOPS) == shapes[2:]
    assert loop_codegen.loop_for(shapes[3]) is made[3]  # (kept, and now the most recent)
    again = loop_codegen.loop_for(shapes[0])  # (dropped: made again, the oldest dropped)
    assert again is not made[0] and list(loop_codegen._LOOPS) == [*shapes[4:], shapes[3],
                                                                  shapes[0]]


def _pruned_run(monkeypatch, prune_after_residuals: bool) -> tuple[list, list]:
    """A loop with a variable nobody reads (z) and a gradient: (values, the kept nodes
    of each forward loop when it was pruned)."""
    pruned_keeps: list = []
    if prune_after_residuals:  # (the loops keep their residuals before they are pruned)
        prune = loops.prune_loop_variables

        def later(graph):
            pruned_keeps.extend(n.attrs.get("keep") for n in graph.nodes if n.op == "while")
            return prune(graph)

        monkeypatch.setattr(loops, "prune_loop_variables", lambda graph: graph)
        monkeypatch.setattr(loops, "save_residuals", lambda graph: later(save_residuals(graph)))
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [4, 3], name="x")
        w = tf.constant(np.linspace(-1, 1, 9).reshape(3, 3))
        _, h, _ = tf.while_loop(
            lambda t, h, z: t < 4,
            lambda t, h, z: (t + 1, tf.tanh(tf.matmul(h, w) + tf.gather(x, t)[None]), z * 2.0),
            [tf.constant(0), tf.zeros([1, 3], tf.float64), tf.ones([2], tf.float64)])
        loss = tf.reduce_sum(tf.sin(h))
        with tf.Session(options=tf.CompileOptions(loop_hoist=False)) as sess:
            values = sess.run([loss, *tf.gradients(loss, [x])],
                              {x: np.arange(12.0).reshape(4, 3) / 10})
    return values, pruned_keeps


def test_a_loop_that_keeps_residuals_is_pruned_with_its_stacks_in_place(monkeypatch):
    want, _ = _pruned_run(monkeypatch, False)
    got, keeps = _pruned_run(monkeypatch, True)
    assert any(keeps)  # (a forward loop with kept values met the pruning)
    assert _bits(got) == _bits(want)


def _kept_stacks(monkeypatch) -> list:
    """The stacks each loop run hands its reverse loop: (shape, bytes, bytes of the buffer
    behind it)."""
    found: list = []
    call = loop_runner.LoopRunner.__call__

    def spy(self, xp, args, limit, save):
        result = call(self, xp, args, limit, save)
        for a in result[self.n_vars:]:
            if getattr(a, "ndim", 0):
                base = a if a.base is None else a.base
                found.append((a.shape, a.nbytes, base.nbytes))
        return result

    monkeypatch.setattr(loop_runner.LoopRunner, "__call__", spy)
    return found


@pytest.mark.parametrize(("stop", "runs"), [(1.7, 3), (1e4, 42)])
def test_a_loop_that_stops_on_a_value_keeps_only_the_rows_it_ran(monkeypatch, stop, runs):
    stacks = _kept_stacks(monkeypatch)
    _doubling(1.0, stop)
    assert [shape for shape, _, _ in stacks] == [(runs, 2)]
    assert all(held == size for _, size, held in stacks)  # (16 or 64 rows made: not held)


def test_growing_rows_stop_at_maximum_iterations():
    stacks = loop_stacks.Stacks([], [np.zeros((16, 2))], 16)
    stacks.grow(np, 16, 20)
    assert stacks.size == 20 and stacks.kept[0].shape == (20, 2)
