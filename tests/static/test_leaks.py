"""Dropped graphs are collected: nothing module-level keeps a Graph alive.

Issue 18, item 9: ``tf.get_variable`` kept every graph it touched alive (its per-graph store
had weak keys, but its values, the Variables, referenced the graph), so 100 of 100 dropped
graphs stayed in memory together with their constants.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import tapeflow.static as tf


def _build(with_session: bool) -> weakref.ref[tf.Graph]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        with tf.variable_scope("block"):
            w = tf.get_variable("w", [3, 3])
        with tf.variable_scope("block", reuse=True):
            assert tf.get_variable("w") is w
        y = tf.layers.dense(tf.matmul(x, w), 4, name="dense")
        loss = tf.reduce_sum(y + tf.constant(np.ones((64, 4), np.float32)))
        if with_session:
            step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                sess.run(step, {x: np.ones((64, 3), np.float32)})
    return weakref.ref(graph)


def test_graphs_using_get_variable_and_layers_are_collected() -> None:
    refs = [_build(with_session=False) for _ in range(100)]
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    assert alive == 0, f"{alive} of 100 dropped graphs are still alive"


def test_graphs_trained_in_a_session_are_collected() -> None:
    refs = [_build(with_session=True) for _ in range(5)]
    gc.collect()
    assert [ref() for ref in refs] == [None] * 5


def test_sharing_survives_a_collection_while_the_graph_lives() -> None:
    # the store's references are weak: the graph, not the store, keeps a variable alive
    with tf.Graph().as_default():
        with tf.variable_scope("layer"):
            name = tf.get_variable("w", [2]).name
        gc.collect()
        with tf.variable_scope("layer", reuse=True):
            assert tf.get_variable("w").name == name
