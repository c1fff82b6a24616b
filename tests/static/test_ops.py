"""Static mode, op functions: values against numpy, interpreted and with the default program."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler.interpreter import Interpreter

rng = np.random.default_rng(11)
A = rng.uniform(-1.0, 1.0, size=(3, 4))
B = rng.uniform(-1.0, 1.0, size=(3, 4))
P = rng.uniform(0.5, 2.0, size=(3, 4))
M = rng.uniform(-1.0, 1.0, size=(4, 2))
IDS = np.array([2, 0, 2])


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# name -> (build(a, b, p, m) -> tensor, numpy reference)
CASES = {
    "add": (lambda a, b, p, m: tf.add(a, b), A + B),
    "subtract": (lambda a, b, p, m: tf.subtract(a, b), A - B),
    "multiply": (lambda a, b, p, m: tf.multiply(a, 3), A * 3),
    "divide": (lambda a, b, p, m: tf.divide(a, p), A / P),
    "reflected": (lambda a, b, p, m: 2.0 / p - 1 + 3 * a, 2.0 / P - 1 + 3 * A),
    "negative": (lambda a, b, p, m: tf.negative(a), -A),
    "matmul": (lambda a, b, p, m: tf.matmul(a, m), A @ M),
    "matmul transpose_a": (lambda a, b, p, m: tf.matmul(a, b, transpose_a=True), A.T @ B),
    "square sqrt": (lambda a, b, p, m: tf.square(a) + tf.sqrt(p), A * A + np.sqrt(P)),
    "exp log abs": (lambda a, b, p, m: tf.exp(a) + tf.log(p) + tf.abs(a),
                    np.exp(A) + np.log(P) + np.abs(A)),
    "pow": (lambda a, b, p, m: tf.pow(p, 1.5) + p ** 2, P ** 1.5 + P ** 2),
    "maximum minimum": (lambda a, b, p, m: tf.maximum(a, b) - tf.minimum(a, 0.1),
                        np.maximum(A, B) - np.minimum(A, 0.1)),
    "sigmoid tanh": (lambda a, b, p, m: tf.sigmoid(a) * tf.tanh(b),
                     1 / (1 + np.exp(-A)) * np.tanh(B)),
    "relu": (lambda a, b, p, m: tf.nn.relu(a), np.maximum(A, 0)),
    "softmax": (lambda a, b, p, m: tf.nn.softmax(a), _softmax(A)),
    "log_softmax axis 0": (lambda a, b, p, m: tf.nn.log_softmax(a, axis=0),
                           np.log(_softmax(A, 0))),
    "softmax cross-entropy": (
        lambda a, b, p, m: tf.nn.softmax_cross_entropy_with_logits(labels=_softmax(B), logits=a),
        -np.sum(_softmax(B) * np.log(_softmax(A)), axis=1)),
    "sparse softmax cross-entropy": (
        lambda a, b, p, m: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=IDS, logits=a),
        -np.log(_softmax(A))[np.arange(3), IDS]),
    "embedding_lookup": (lambda a, b, p, m: tf.nn.embedding_lookup(m, IDS), M[IDS]),
    "gather axis 1": (lambda a, b, p, m: tf.gather(a, [3, 1], axis=1), A[:, [3, 1]]),
    "mean_squared_error": (lambda a, b, p, m: tf.losses.mean_squared_error(b, a),
                           np.mean((A - B) ** 2)),
    "mse reduction none": (lambda a, b, p, m: tf.losses.mean_squared_error(
        b, a, reduction=tf.losses.Reduction.NONE), (A - B) ** 2),
    "reduce_sum axis": (lambda a, b, p, m: tf.reduce_sum(a, axis=1), A.sum(1)),
    "reduce_mean keepdims": (lambda a, b, p, m: tf.reduce_mean(a, axis=0, keepdims=True),
                             A.mean(0, keepdims=True)),
    "reduce_max list axis": (lambda a, b, p, m: tf.reduce_max(a, axis=[0, 1]), A.max()),
    "reduce_min": (lambda a, b, p, m: tf.reduce_min(a), A.min()),
    "argmax": (lambda a, b, p, m: tf.argmax(a, 1), A.argmax(1)),
    "argmax default axis 0": (lambda a, b, p, m: tf.argmax(a), A.argmax(0)),
    "equal cast": (lambda a, b, p, m: tf.cast(tf.equal(tf.argmax(a, 1), tf.argmax(b, 1)),
                                              tf.float32),
                   (A.argmax(1) == B.argmax(1)).astype(np.float32)),
    "comparisons": (lambda a, b, p, m: tf.logical_and(a > b, tf.logical_not(a <= 0.0)),
                    (A > B) & ~(A <= 0)),
    "reshape": (lambda a, b, p, m: tf.reshape(a, [-1, 6]), A.reshape(-1, 6)),
    "transpose perm": (lambda a, b, p, m: tf.transpose(tf.reshape(a, [3, 2, 2]), [2, 0, 1]),
                       A.reshape(3, 2, 2).transpose(2, 0, 1)),
    "concat": (lambda a, b, p, m: tf.concat([a, b], 0), np.concatenate([A, B], 0)),
    "stack": (lambda a, b, p, m: tf.stack([a, b], axis=1), np.stack([A, B], 1)),
    "split sizes": (lambda a, b, p, m: tf.split(a, [1, -1], axis=1)[1], A[:, 1:]),
    "squeeze expand_dims": (lambda a, b, p, m: tf.squeeze(tf.expand_dims(a, 1), axis=[1]), A),
    "where": (lambda a, b, p, m: tf.where(a > 0, a, b), np.where(A > 0, A, B)),
    "where picks rows": (lambda a, b, p, m: tf.where(tf.constant([True, False, True]), a, b),
                         np.where(np.array([True, False, True])[:, None], A, B)),
    "one_hot on off": (lambda a, b, p, m: tf.one_hot(IDS, 3, on_value=5.0, off_value=-1.0),
                       np.where(np.eye(3)[IDS] == 1, 5.0, -1.0)),
    "clip_by_value": (lambda a, b, p, m: tf.clip_by_value(a, -0.2, 0.3), np.clip(A, -0.2, 0.3)),
    "identity stop_gradient": (lambda a, b, p, m: tf.identity(a) + tf.stop_gradient(b), A + B),
    "slicing": (lambda a, b, p, m: a[1:, ::2] + a[0, None, :2], A[1:, ::2] + A[0, None, :2]),
    "add_n": (lambda a, b, p, m: tf.add_n([a, b, p]), A + B + P),
    "fill zeros ones": (lambda a, b, p, m: tf.fill([2, 2], 7.0) + tf.zeros([2, 2]) + tf.ones([2]),
                        np.full((2, 2), 8.0)),
    "zeros_like ones_like": (lambda a, b, p, m: tf.zeros_like(a) + tf.ones_like(a) * 2,
                             np.full((3, 4), 2.0)),
    "constant with shape": (lambda a, b, p, m: tf.constant(0.5, shape=[2, 3]),
                            np.full((2, 3), 0.5)),
}

INTERPRETER = tf.CompileOptions(optimize=False, plan_memory=False)


@pytest.mark.parametrize("options", [INTERPRETER, tf.CompileOptions()],
                         ids=["interpret", "default"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_values_match_numpy(name, options):
    tf.reset_default_graph()
    build, expected = CASES[name]
    holders = [tf.placeholder(tf.float64, v.shape, name=k) for k, v in
               zip("abpm", (A, B, P, M), strict=True)]
    result = build(*holders)
    feed = dict(zip(holders, (A, B, P, M), strict=True))
    with tf.Session(options=options) as sess:
        value = sess.run(result, feed)
    assert np.shape(value) == np.shape(expected)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)


def test_the_interpreter_is_what_runs_without_optimisation_and_planning():
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.Session(options=INTERPRETER) as sess:
        sess.run(x * 2, {x: [1.0, 2.0]})
        (entry,) = sess._cache.values()
    assert isinstance(entry.program, Interpreter)


def test_interpreter_errors_name_the_node_and_its_site():
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None], name="x")
    bad = tf.gather(x, [5], name="pick")  # the index is out of range only at run time
    with tf.Session(options=INTERPRETER) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(bad, {x: [1.0, 2.0]})
    message = str(info.value)
    assert "pick" in message and "out of range" in message and __file__ in message
