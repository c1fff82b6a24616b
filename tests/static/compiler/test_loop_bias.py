"""loop_bias: the biases of an RNN step join its hoisted input product (added once, outside
the loop), with the loop's values to rounding, in either grouping of the step's sum."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from hoist_checks import assert_loop_values, three_programs
from tapeflow.runtime import Spec
from tapeflow.static.compiler import CompileOptions, compile

rng = np.random.default_rng(5)
T, B, E, H = 6, 4, 3, 5
X = rng.normal(size=(B, T, E))
W = {name: rng.normal(size=shape) * 0.5 for name, shape in
     (("w_ih", (E, H)), ("w_hh", (H, H)), ("b_ih", (H,)), ("b_hh", (H,)))}
GROUPINGS = {
    # compare/rnn_while.py's: (x W_ih + b_ih) + (h W_hh + b_hh)
    "pairs": lambda p, m, b_ih, b_hh: (p + b_ih) + (m + b_hh),
    # left to right: ((x W_ih + b_ih) + h W_hh) + b_hh
    "chain": lambda p, m, b_ih, b_hh: p + b_ih + m + b_hh,
    # the bias first: b_ih + x W_ih, then h W_hh + b_hh added from the left
    "swapped": lambda p, m, b_ih, b_hh: (b_hh + m) + (b_ih + p),
}


def _graph(grouping: str):
    """(x, lengths, [loss, gradients of every weight and of x]) of an Elman dynamic_rnn."""
    v = {name: tf.constant(value, name=name) for name, value in W.items()}
    step = GROUPINGS[grouping]

    class Cell:
        output_size = H

        def zero_state(self, inputs, dtype):
            return tf.zeros_like(inputs[:, :1], dtype=dtype) + tf.zeros([H], dtype)

        def __call__(self, x, h):
            h = tf.tanh(step(tf.matmul(x, v["w_ih"]), tf.matmul(h, v["w_hh"]), v["b_ih"],
                             v["b_hh"]))
            return h, h

    x = tf.placeholder(tf.float64, [B, T, E], name="x")
    lengths = tf.placeholder(tf.int32, [B], name="lengths")
    outputs, state = tf.nn.dynamic_rnn(Cell(), x, sequence_length=lengths, dtype=tf.float64)
    loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(tf.sin(state))
    return x, lengths, [loss, *tf.gradients(loss, [*v.values(), x])]


def _program(fetches, options):
    graph = tf.get_default_graph().as_ir(fetches)
    feeds = [n.id for n in graph.nodes if n.kind == "placeholder"]
    specs = {i: Spec((B, T, E), tf.float64) if graph[i].name == "x" else Spec((B,), tf.int32)
             for i in feeds}
    return compile(graph, specs, options)


def _forward_step_adds(program) -> list[tuple[str, ...]]:
    """The names of the operands of each add of the cell's sum in the forward loop's step
    (the outputs' zero fill past a sentence's end has an add of its own)."""
    loop = next(n for n in program.graph.nodes if n.op == "while")
    body = loop.attrs["body"].graph
    adds = [tuple(body[i].name for i in n.inputs) for n in body.nodes
            if n.kind == "call" and n.op == "add" and n.shape != ()]
    return [add for add in adds if not any("FullLike" in a for a in add)]


@pytest.mark.parametrize("grouping", sorted(GROUPINGS))
def test_biases_leave_the_step_with_the_loops_values(grouping):
    with tf.Graph().as_default():
        x, lengths, fetches = _graph(grouping)
        hoisted, plain, exact = three_programs(lambda options: _program(fetches, options))
        names = {n.name for n in hoisted.graph.nodes}
        # one add per step is left: the row of x W_ih + b_ih + b_hh plus h W_hh
        assert len(_forward_step_adds(hoisted)) == 1, _forward_step_adds(hoisted)
        assert not any("captured/b_" in a for add in _forward_step_adds(hoisted) for a in add)
        assert sum("loop_hoist/bias" in name for name in names) == 2
        assert len(_forward_step_adds(plain)) == 3 == len(_forward_step_adds(exact))
        assert_loop_values(hoisted, plain, exact, [
            {x.node_id: X, lengths.node_id: np.array(n, np.int32)}
            for n in ([6, 2, 3, 6], [0, 4, 5, 1], [0, 0, 0, 0])])


def test_a_per_sentence_bias_joins_the_product_and_a_state_term_stays():
    """A (B, H) constant added every step broadcasts over the stack of rows as over one row,
    so it joins the product; the state's own term ``h * 0.5`` stays in the step."""
    with tf.Graph().as_default():
        wide = tf.constant(rng.normal(size=(B, H)), name="wide")
        w_ih = tf.constant(W["w_ih"], name="w_ih")
        x = tf.placeholder(tf.float64, [B, T, E], name="x")
        lengths = tf.placeholder(tf.int32, [B], name="lengths")

        class Cell:
            output_size = H

            def zero_state(self, inputs, dtype):
                return tf.zeros_like(inputs[:, :1], dtype=dtype) + tf.zeros([H], dtype)

            def __call__(self, x, h):
                h = tf.tanh(tf.matmul(x, w_ih) + (h * 0.5 + wide))
                return h, h

        _, state = tf.nn.dynamic_rnn(Cell(), x, sequence_length=lengths, dtype=tf.float64)
        (dx,) = tf.gradients(tf.reduce_sum(tf.sin(state)), [x])
        hoisted = _program([state, dx], CompileOptions())
        plain = _program([state, dx], CompileOptions().without("loop_hoist"))
        adds = _forward_step_adds(hoisted)
        assert len(adds) == 1 and not any("wide" in a for a in adds[0]), adds
        assert any("wide" in a for add in _forward_step_adds(plain) for a in add)
        feed = {x.node_id: X, lengths.node_id: np.array([6, 2, 0, 5], np.int32)}
        for a, b in zip(hoisted.run(feed, {})[0], plain.run(feed, {})[0], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
