"""Session.run's fast path: a run seen before, found by its fetch and feed-key objects.

It must behave exactly like the full path: same values and structure, recompiling when a
fed shape changes, the same errors for bad feeds, and fetched arrays that nothing else
holds (not a feed, not a variable's stored value).
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf


def model() -> tuple[tf.Graph, tf.Tensor, tf.Variable, tf.Tensor, tf.Operation, tf.Operation]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (None, 3), name="x")
        w = tf.Variable(np.arange(6.0).reshape(3, 2) / 10, name="w")
        y = tf.reduce_sum(tf.tanh(tf.matmul(x, w)))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(y)
        init = tf.global_variables_initializer()
    return graph, x, w, y, train, init


def test_repeated_runs_match_a_fresh_session_and_keep_the_structure() -> None:
    graph, x, w, y, train, init = model()
    batch = np.linspace(-1, 1, 12).reshape(4, 3)
    with tf.Session(graph=graph) as sess, tf.Session(graph=graph) as fresh:
        sess.run(init)
        fresh.run(init)
        for _ in range(3):
            got = sess.run([y, train], {x: batch})
            # a new session each time takes the full path (its cache is empty)
            fresh_value = fresh.run((y, train), {x: batch})
            assert isinstance(got, list) and got[1] is None
            assert isinstance(fresh_value, tuple) and got[0] == fresh_value[0]
        assert sess.compile_count == 2  # the initializer and the training step
        assert len(sess._fast) == 2  # both remembered by their fetch and feed-key objects
        single = sess.run(y, {"x:0": batch.tolist()})  # a tensor name and a nested list
        assert isinstance(single, np.float64)
        assert single == sess.run(y, {"x:0": batch.tolist()})


def test_a_new_fed_shape_recompiles_and_the_old_one_is_still_cached() -> None:
    graph, x, w, y, train, init = model()
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        small, large = np.ones((2, 3)), np.ones((5, 3))
        a = sess.run(y, {x: small})
        b = sess.run(y, {x: large})
        assert sess.compile_count == 3 and b == pytest.approx(a * 5 / 2)
        assert sess.run(y, {x: small}) == a and sess.compile_count == 3


def test_bad_feeds_on_a_cached_run_raise_the_full_paths_errors() -> None:
    graph, x, w, y, train, init = model()
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(y, {x: np.ones((2, 3))})
        with pytest.raises(ValueError, match="Cannot feed value of shape"):
            sess.run(y, {x: np.ones((2, 4))})
        with pytest.raises(ValueError, match="Cannot feed value"):
            sess.run(y, {x: [["a", "b", "c"]]})


def test_fetched_arrays_are_never_a_feed_or_a_stored_variable() -> None:
    graph, x, w, y, train, init = model()
    batch = np.ones((2, 3))
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        for _ in range(2):  # the second run takes the fast path
            fed, weights = sess.run([x, w], {x: batch})
            assert not np.shares_memory(fed, batch)
            weights[...] = 99.0  # the caller owns what it fetched
            assert sess.run(w)[0, 0] == 0.0


def test_a_remembered_run_skips_the_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, x, w, y, train, init = model()
    batch = np.linspace(-1, 1, 12).reshape(4, 3)
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        sess.run([y, train], {x: batch})
        full = []
        real = sess._lookup
        monkeypatch.setattr(sess, "_lookup", lambda *a: full.append(1) or real(*a))
        for _ in range(3):
            sess.run([y, train], {x: batch})
        assert full == []  # found by its fetch and feed-key objects each time
        sess.run([y, train], {x: batch[:2]})  # another shape: the full path, a new program
        assert full == [1] and sess.compile_count == 3
