"""loop_hoist: a loop's input projections and gradient sums run outside it, once, with the
values of the loop as built (to rounding: the products sum in another order)."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.runtime import Spec
from tapeflow.static.compiler import CompileOptions, compile

rng = np.random.default_rng(11)
X = rng.normal(size=(4, 6, 3))
PLAIN = CompileOptions().without("loop_hoist")


class ElmanCell:
    """PyTorch's Elman cell (x W_ih + b_ih + h W_hh + b_hh), as compare/rnn_while.py's:
    the input's product is its own, so the loop can hoist it."""

    output_size = 5

    def __init__(self) -> None:
        self.w_ih = tf.Variable(rng.normal(size=(3, 5)), name="w_ih")
        self.w_hh = tf.Variable(rng.normal(size=(5, 5)), name="w_hh")
        self.b_ih = tf.Variable(rng.normal(size=(5,)), name="b_ih")
        self.b_hh = tf.Variable(rng.normal(size=(5,)), name="b_hh")

    def zero_state(self, inputs, dtype):
        return tf.zeros_like(inputs[:, :1], dtype=dtype) + tf.zeros([5], dtype)

    def __call__(self, x, h):
        h = tf.tanh(tf.matmul(x, self.w_ih) + self.b_ih + tf.matmul(h, self.w_hh) + self.b_hh)
        return h, h


def _rnn_graph(cell_type: str):
    """dynamic_rnn with sequence_length: (x, lengths, [loss, *gradients])."""
    cell = {"elman": ElmanCell, "rnn": lambda: tf.nn.rnn_cell.BasicRNNCell(5),
            "lstm": lambda: tf.nn.rnn_cell.BasicLSTMCell(5)}[cell_type]()
    x = tf.placeholder(tf.float64, [4, 6, 3], name="x")
    lengths = tf.placeholder(tf.int32, [4], name="lengths")
    outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float64)
    final = state.h if cell_type == "lstm" else state
    loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(tf.sin(final))
    return x, lengths, [loss, *tf.gradients(loss, [*tf.trainable_variables(), x])]


def _runs(fetches, feeds, *options_list):
    """The fetched values under each CompileOptions, one Session each, the same weights."""
    weights = {v: np.random.default_rng(4).normal(size=v.shape.as_list()) * 0.5
               for v in tf.trainable_variables()}
    found = []
    for options in options_list:
        with tf.Session(options=options) as sess:
            if weights:  # (an empty run trips residuals.py's max() of no nodes)
                sess.run(tf.global_variables_initializer())
                sess.run([v.assign(value) for v, value in weights.items()])
            found.append([sess.run(fetches, feed) for feed in feeds])
    return found


def _close(got, want):
    for a, b in zip(got, want, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell_type", ["elman", "rnn", "lstm"])
def test_hoisted_rnn_gives_the_loops_losses_and_gradients(cell_type):
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        x, lengths, fetches = _rnn_graph(cell_type)
        # lengths below the feed's 6 steps, none at all, all full
        feeds = [{x: X, lengths: np.array(n, np.int32)}
                 for n in ([6, 2, 3, 6], [0, 4, 5, 1], [0, 0, 0, 0], [6, 6, 6, 6])]
        hoisted, plain, exact = _runs(fetches, feeds, CompileOptions(), PLAIN,
                                      CompileOptions(exact=True))
    _close(hoisted, plain)
    _close(exact, plain)
    assert any(np.any(g != 0) for g in hoisted[0][1:])  # (gradients that say something)


def _hoisted_nodes(fetches, feed, options):
    graph = tf.get_default_graph().as_ir(fetches)
    specs = {t.node_id: Spec(v.shape, tf.as_dtype(v.dtype)) for t, v in feed.items()}
    program = compile(graph, specs, options)
    loops = [n for n in program.graph.nodes if n.op == "while"]
    return [n for n in program.graph.nodes if "loop_hoist" in n.name], loops


def test_products_and_gradient_sums_leave_the_loops_unless_exact():
    with tf.Graph().as_default():
        x, lengths, fetches = _rnn_graph("elman")
        feed = {x: X, lengths: np.array([6, 2, 3, 6], np.int32)}
        hoisted, loops = _hoisted_nodes(fetches[1:], feed, CompileOptions())
        ops = sorted(n.op for n in hoisted if n.op in ("matmul", "sum_to", "scatter_add"))
        # forward: x @ W_ih for every step; reverse: dW_ih = X^T G, dW_hh = H^T G,
        # dx = scatter(G W_ih^T), db_ih and db_hh = sum G
        assert ops == ["matmul"] * 4 + ["scatter_add", "sum_to"]  # (CSE: one sum of G)
        forward, reverse = loops
        assert len(reverse.attrs["keep"]) == 1  # (the stack of G, one per step)
        plain_reverse = _hoisted_nodes(fetches[1:], feed, PLAIN)[1][1]
        # the five accumulators (dW_ih, dW_hh, db_ih, db_hh, dx) are no loop variables now
        assert plain_reverse.attrs["n_vars"] - reverse.attrs["n_vars"] == 5
        # the forward step reads its rows of the product: no product of x[t] is left in it
        step = forward.attrs["loop"].step.body.graph
        assert sum(n.op == "matmul" for n in step.nodes) == 1  # (h @ W_hh only)
        for options in (CompileOptions(exact=True), PLAIN, CompileOptions(optimize=False)):
            assert _hoisted_nodes(fetches[1:], feed, options)[0] == []


def test_rows_read_twice_add_up_and_other_tests_keep_every_row():
    # the rows are x[ids[t]] with ids 0, 1, 1, 2, 1 (row 1 read three times, row 3 never:
    # its gradient scatter repeats rows), and the test is not `counter < bound`, so the
    # product covers every row of x
    xs, ws = rng.normal(size=(4, 3, 4)), rng.normal(size=(4, 5))
    rows = [0, 1, 1, 2, 1]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [4, 3, 4], name="x")
        w = tf.placeholder(tf.float64, [4, 5], name="w")
        ids = tf.constant(np.array(rows, np.int32))

        def body(t, acc):
            row = tf.gather(x, tf.gather(ids, t))
            return t + 1, acc + tf.tanh(tf.matmul(row, w))

        _, acc = tf.while_loop(lambda t, acc: tf.logical_not(tf.equal(t, 5)), body,
                               [tf.constant(0), tf.zeros([3, 5], tf.float64)])
        loss = tf.reduce_sum(acc * acc)
        fetches = [loss, *tf.gradients(loss, [w, x])]
        feed = {x: xs, w: ws}
        hoisted, plain = _runs(fetches, [feed], CompileOptions(), PLAIN)
        ops = sorted(n.op for n in _hoisted_nodes(fetches, feed, CompileOptions())[0])
        assert {"matmul", "scatter_add"} <= set(ops)  # (the pass fired, forward and reverse)
    _close(hoisted, plain)
    steps = [np.tanh(xs[r] @ ws) for r in rows]  # (numpy, step by step)
    total = sum(steps)
    dw, dx = np.zeros_like(ws), np.zeros_like(xs)
    for r, y in zip(rows, steps, strict=True):
        dz = 2 * total * (1 - y * y)
        dw += xs[r].T @ dz
        dx[r] += dz @ ws.T
    _close(hoisted, [[np.sum(total * total), dw, dx]])


def test_values_too_large_per_step_stay_in_the_loop(monkeypatch):
    from tapeflow.static.compiler import loop_hoist

    monkeypatch.setattr(loop_hoist, "MAX_STEP_ELEMENTS", 19)  # (a step's values are 4 x 5)
    with tf.Graph().as_default():
        x, lengths, fetches = _rnn_graph("elman")
        feed = {x: X, lengths: np.array([6, 2, 3, 6], np.int32)}
        assert _hoisted_nodes(fetches[1:], feed, CompileOptions())[0] == []
        monkeypatch.setattr(loop_hoist, "MAX_STEP_ELEMENTS", 20)
        assert _hoisted_nodes(fetches[1:], feed, CompileOptions())[0]
