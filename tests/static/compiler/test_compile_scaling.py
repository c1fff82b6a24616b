"""Compile work grows linearly with the graph: doubling it may not much more than double
the work of the first ``Session.run``.

Work is counted, not timed: the Python function calls (generator resumptions included)
made by tapeflow's own code during the first run, which compiles the program and runs it
once. A pass that rescans the graph per node, a lookup that scans a list, or a planner
that scans every placed buffer per buffer makes the count grow with the square of the
graph and fails the 2.5x bound. (Issue 25; timings are in
``benchmarks/bench_compiler.py --scaling``.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import tapeflow
import tapeflow.static as tf
from tapeflow.static.compiler.planner import (
    mark_inplace,
    plan_in_place,
    plan_memory,
    stack_in_place,
)

ROOT = str(Path(tapeflow.__file__).resolve().parent)
VENV = str(Path(ROOT) / ".venv")
GROWTH = 2.5  # most work allowed when the graph doubles


def rnn_training(steps: int) -> tuple[Any, Any, dict[Any, Any]]:
    """An Elman RNN unrolled over ``steps``, with its SGD training step (B=2, H=4)."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(None, steps, 3), name="x")
        labels = tf.placeholder(tf.int64, shape=(None,), name="labels")
        w_ih = tf.Variable(rng.normal(size=(3, 4)).astype(np.float32))
        w_hh = tf.Variable(rng.normal(size=(4, 4)).astype(np.float32))
        w_out = tf.Variable(rng.normal(size=(4, 2)).astype(np.float32))
        state = tf.tanh(tf.matmul(x[:, 0, :], w_ih))
        for t in range(1, steps):
            state = tf.tanh(tf.matmul(x[:, t, :], w_ih) + tf.matmul(state, w_hh))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.matmul(state, w_out)))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    feed = {x: rng.normal(size=(2, steps, 3)).astype(np.float32),
            labels: rng.integers(0, 2, size=2)}
    return sess, [loss, train], feed


def tanh_chain(length: int) -> tuple[Any, Any, dict[Any, Any]]:
    """``length`` tanh ops in a row on a fed vector."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(4,), name="x")
        y = x
        for _ in range(length):
            y = tf.tanh(y)
    return tf.Session(graph=graph), y, {x: np.ones(4, np.float32)}


def first_run_calls(sess: Any, fetches: Any, feed: dict[Any, Any]) -> int:
    """Calls into tapeflow's Python code (not numpy's, not the generated schedule's own
    frame) during ``sess.run``."""
    count = 0

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            name = frame.f_code.co_filename
            if name.startswith(ROOT) and not name.startswith(VENV):
                count += 1

    sys.setprofile(hook)
    try:
        sess.run(fetches, feed)
    finally:
        sys.setprofile(None)
    return count


def growth(build: Any, size: int) -> tuple[int, int]:
    small = first_run_calls(*build(size))
    large = first_run_calls(*build(2 * size))
    return small, large


def test_rnn_compile_work_grows_linearly() -> None:
    small, large = growth(rnn_training, 100)
    assert small > 10_000  # the hook saw the compiler at work
    assert large <= GROWTH * small, (small, large)


def test_chain_compile_work_grows_linearly() -> None:
    small, large = growth(tanh_chain, 2_000)
    assert small > 10_000
    assert large <= GROWTH * small, (small, large)


def test_second_run_does_not_compile() -> None:
    sess, fetches, feed = rnn_training(10)
    compiling = first_run_calls(sess, fetches, feed)
    assert first_run_calls(sess, fetches, feed) < compiling / 10


def test_plan_in_place_equals_planning_twice() -> None:
    # the compile path places offsets once (after the stacks); the plan must be the one
    # that planning, then re-planning around the stacks, gives
    sess, fetches, feed = rnn_training(12)
    entry, _, _ = sess._lookup(fetches, feed)
    graph = entry.program.graph
    marks = mark_inplace(graph)
    once, slots_once = plan_in_place(graph, marks)
    twice, slots_twice = stack_in_place(graph, plan_memory(graph, marks), marks)
    assert slots_once and slots_once == slots_twice  # the stacks took operands
    assert once == twice
    # and with no stack in the graph, the unplaced plan still gets placed
    with tf.Graph().as_default() as graph:
        x = tf.placeholder(tf.float32, shape=(4,), name="x")
        a, b = tf.tanh(x), tf.sigmoid(x)
        y = a * b + a
        # (fusion off: it would make sigmoid, mul and add one node, leaving one buffer)
        flat_sess = tf.Session(graph=graph, options=tf.CompileOptions(fuse=False))
    flat = flat_sess._lookup(y, {x: np.ones(4, np.float32)})[0].program.graph
    placed, no_slots = plan_in_place(flat, mark_inplace(flat))
    assert not no_slots and placed == plan_memory(flat, mark_inplace(flat))
    assert any(placed.offsets.values())  # two buffers alive at once: one is not at 0
