"""loop_rows.gathered_rows: an embedding lookup feeding a loop looks up only the rows the
loop reads (t below the batch's longest length), and the embedding's gradient scatters the
loop's rows straight to their tokens, with the loop's values to rounding."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from hoist_checks import assert_loop_values, three_programs
from tapeflow.runtime import Spec
from tapeflow.static.compiler import CompileOptions, compile

rng = np.random.default_rng(8)
V, B, T, E, H = 9, 4, 6, 3, 5
TOKENS = rng.integers(0, V, size=(B, T))


def _graph(fetch_x_gradient: bool = False):
    """(tokens, lengths, [loss, gradients]) of embedding -> Elman dynamic_rnn -> sum."""
    table = tf.constant(rng.normal(size=(V, E)), name="table")
    w_ih = tf.constant(rng.normal(size=(E, H)) * 0.5, name="w_ih")
    w_hh = tf.constant(rng.normal(size=(H, H)) * 0.5, name="w_hh")

    class Cell:
        output_size = H

        def zero_state(self, inputs, dtype):
            return tf.zeros_like(inputs[:, :1], dtype=dtype) + tf.zeros([H], dtype)

        def __call__(self, x, h):
            h = tf.tanh(tf.matmul(x, w_ih) + tf.matmul(h, w_hh))
            return h, h

    tokens = tf.placeholder(tf.int64, [B, T], name="tokens")
    lengths = tf.placeholder(tf.int32, [B], name="lengths")
    inputs = tf.nn.embedding_lookup(table, tokens)
    _, state = tf.nn.dynamic_rnn(Cell(), inputs, sequence_length=lengths, dtype=tf.float64)
    loss = tf.reduce_sum(tf.sin(state))
    wrt = [table, w_ih, w_hh] + ([inputs] if fetch_x_gradient else [])
    return tokens, lengths, [loss, *tf.gradients(loss, wrt)]


def _program(fetches, options):
    graph = tf.get_default_graph().as_ir(fetches)
    specs = {n.id: Spec((B, T), tf.int64) if n.name == "tokens" else Spec((B,), tf.int32)
             for n in graph.nodes if n.kind == "placeholder"}
    return compile(graph, specs, options)


def _full_lookups(program) -> list[str]:
    """The outer nodes holding every step's rows of the input: (B, T, E) or (T, B, E)."""
    return [n.name for n in program.graph.nodes if n.kind == "call"
            and n.shape in ((B, T, E), (T, B, E))]


@pytest.mark.parametrize("fetch_x_gradient", [False, True])
def test_only_the_rows_read_are_looked_up_and_scattered(fetch_x_gradient):
    with tf.Graph().as_default():
        tokens, lengths, fetches = _graph(fetch_x_gradient)
        hoisted, plain, exact = three_programs(lambda options: _program(fetches, options))
        # the gradient loop's steps index the tokens as they are, not through the forward
        # loop's stack of steps (0, 1, ...: its row i is i), unless the input's gradient,
        # fetched, keeps its scatter at those rows
        steps = [n for n in hoisted.graph.nodes if n.op == "take"
                 and hoisted.graph[n.inputs[0]].op == "control_output"
                 and hoisted.graph[n.inputs[0]].dtype.is_integer]
        assert len(steps) == int(fetch_x_gradient)
        if fetch_x_gradient:  # (the input's gradient is fetched: its scatter stays)
            assert _full_lookups(hoisted)
        else:
            assert _full_lookups(hoisted) == []
        assert _full_lookups(plain) and _full_lookups(exact)
        assert_loop_values(hoisted, plain, exact, [
            {tokens.node_id: TOKENS, lengths.node_id: np.array(n, np.int32)}
            for n in ([6, 2, 3, 6], [0, 4, 5, 1], [0, 0, 0, 0], [1, 1, 2, 1])])


def test_a_token_read_at_two_steps_gets_both_gradients():
    """Every token the same: the table's one row sums the gradient of every step read."""
    with tf.Graph().as_default():
        tokens, lengths, fetches = _graph()
        hoisted = _program(fetches, CompileOptions())
        plain = _program(fetches, CompileOptions().without("loop_hoist"))
        feed = {tokens.node_id: np.full((B, T), 3), lengths.node_id: np.array([6, 5, 2, 4],
                                                                              np.int32)}
        got, want = hoisted.run(feed, {})[0][1], plain.run(feed, {})[0][1]
        assert np.count_nonzero(np.abs(want).sum(axis=1)) == 1
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
