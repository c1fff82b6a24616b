"""The layout pass: a weight that many matmuls read transposed is copied row-major once.

It changes only where one operand's bytes lie, so training with it on equals training
with it off bit for bit, planned or not; the copy is a C-contiguous arena buffer that
every reading matmul gets, and a transpose read by few matmuls stays a view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from builders import GraphBuilder, evaluate_graph, ops_of, rnn_graph, run_checked, sources_for
from tapeflow.runtime import R, dtypes
from tapeflow.static.compiler.passes import MIN_MATMUL_READS, materialize_transposes

f64 = dtypes.float64


def backward_like(reads: int) -> tuple[Any, Any, Any]:
    """``g_t @ w^T`` for ``reads`` steps, plus one elementwise reader of the same view."""
    b = GraphBuilder()
    w = b.variable((5, 5), f64)
    gs = [b.placeholder((3, 5), f64) for _ in range(reads)]
    w_t = b.call("transpose", w, axes=(1, 0))
    outs = [R.matmul(g, w_t) for g in gs]
    return b, b.graph(*outs, R.exp(w_t)), w_t


def test_a_transpose_read_by_many_matmuls_gets_one_contiguous_copy() -> None:
    _, g, w_t = backward_like(MIN_MATMUL_READS)
    result, changed = run_checked(materialize_transposes, g)
    assert changed and ops_of(result).count("copy") == 1
    copy = next(n for n in result.nodes if n.op == "copy")
    assert copy.inputs == (w_t.id,) and copy.shape == (5, 5)
    readers = [n for n in result.nodes if n.op == "matmul"]
    assert all(n.inputs[1] == copy.id for n in readers)
    exp = next(n for n in result.nodes if n.op == "exp")
    assert exp.inputs == (w_t.id,)  # a reader that is no matmul keeps the view
    sources = sources_for(g)
    for got, want in zip(evaluate_graph(result, sources), evaluate_graph(g, sources),
                         strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_transpose_read_by_few_matmuls_stays_a_view() -> None:
    _, g, _ = backward_like(MIN_MATMUL_READS - 1)
    assert materialize_transposes(g) == (g, False)


def train(options: tf.CompileOptions, steps: int = 12) -> tuple[list[Any], list[Any], Any]:
    graph, init, feed, fetches, params = rnn_graph(steps=steps, hidden=7)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run(list(fetches), feed)[0] for _ in range(4)]
        program = list(sess._cache.values())[-1].program
        return losses, sess.run(params), program


@pytest.mark.parametrize("plan_memory", [True, False])
def test_rnn_training_is_bit_identical_with_the_pass_on_and_off(plan_memory: bool) -> None:
    on = train(tf.CompileOptions(plan_memory=plan_memory))
    off = train(tf.CompileOptions(plan_memory=plan_memory, materialize_transposes=False))
    assert on[0] == off[0] and on[0][-1] < on[0][0]
    for a, b in zip(on[1], off[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert "materialize_transposes" in [r.name for r in on[2].passes]
    assert "materialize_transposes" not in [r.name for r in off[2].passes]
    # w_hh^T feeds the 11 backward products of the recurrence (the first state is a constant)
    copies = [n for n in on[2].graph.nodes if n.op == "copy" and n.name.endswith("/contiguous")]
    assert len(copies) == 1 and copies[0].shape == (7, 7)
    readers = [n for n in on[2].graph.nodes if n.op == "matmul" and copies[0].id in n.inputs]
    assert len(readers) == 11


def test_the_copy_is_a_row_major_arena_buffer() -> None:
    _, _, program = train(tf.CompileOptions())
    copy = next(n for n in program.graph.nodes if n.name.endswith("/contiguous"))
    step = next(s for s in program.plan.steps if s.node_id == copy.id)
    assert step.where == "arena" and step.nbytes == 7 * 7 * 8
    # unplanned, the copy kernel itself makes a C-contiguous array
    made = R.copy(np.ones((3, 4)).T)
    assert made.flags.c_contiguous and made.shape == (4, 3)
