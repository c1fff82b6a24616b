"""ONNX export of static inference graphs, checked by onnx.checker and run in onnxruntime.

Skipped only where the optional ``onnx`` extra (onnx, onnxruntime) is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.compare.data import SentimentTask
from tapeflow.compare.rnn_static import RnnStatic
from tapeflow.compare.weights import rnn_weights, xor_weights
from tapeflow.compare.xor_static import XorStatic

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)


def run_onnx(path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check(model) -> None:
    onnx.checker.check_model(model, full_check=True)  # includes strict shape inference


def test_xor_forward_graph_matches_onnxruntime(tmp_path):
    xor = XorStatic(xor_weights(0, "float32"), lr=0.5, dtype="float32")
    for _ in range(50):  # the export must carry the session's trained values
        xor.step(X, Y)
    logits = xor.prediction.op.inputs[0]
    path = tmp_path / "xor.onnx"
    model = tf.export_onnx(xor.sess, [xor.x], [logits, xor.prediction], path)
    check(onnx.load(str(path)))
    assert [i.name for i in model.graph.input] == ["x"]
    assert model.opset_import[0].version == 17
    batch = np.random.default_rng(0).random((7, 2), dtype=np.float32)
    for inputs in (X, batch):  # the batch dimension stays free
        got_logits, got_prediction = run_onnx(path, {"x": inputs})
        want_logits, want_prediction = xor.sess.run([logits, xor.prediction], {xor.x: inputs})
        np.testing.assert_allclose(got_logits, want_logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got_prediction, want_prediction)


def test_rnn_forward_graph_matches_onnxruntime(tmp_path):
    task = SentimentTask(vocab_size=20, min_len=3, max_len=6)
    rnn = RnnStatic(rnn_weights(0, "float32", task.vocab_size, 8, 12), lr=0.1,
                    dtype="float32", lengths=(6,))
    batches = task.batches(batch_size=5, batches_per_length=1, seed=0)
    for batch in batches[:3]:
        rnn.step(batch)
    unrolled = rnn.unrolled[6]
    logits = unrolled["prediction"].op.inputs[0]
    path = tmp_path / "rnn.onnx"
    inputs = [unrolled["tokens"], unrolled["mask"], unrolled["labels"]]
    fetches = [logits, unrolled["prediction"], unrolled["loss"]]  # the loss too: a composite
    model = tf.export_onnx(rnn.sess, inputs, fetches, path)
    check(model)
    assert {n.op_type for n in model.graph.node} >= {"Gather", "Slice", "Squeeze", "MatMul",
                                                    "Tanh", "ConstantOfShape", "ArgMax",
                                                    "LogSoftmax", "OneHot", "ReduceMean"}
    for batch in batches:
        padded = batch.padded_to(6)
        values = [padded.tokens, padded.mask(np.float32), batch.labels]
        got = run_onnx(path, {t.op.name: v for t, v in zip(inputs, values, strict=True)})
        want = rnn.sess.run(fetches, dict(zip(inputs, values, strict=True)))
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-5)


def _op_zoo() -> tuple[tf.Graph, list, list, dict]:
    """A graph using most mapped ops, with feeds; returns (graph, inputs, outputs, feeds)."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(tf.float32, [None, 3], name="a")
        i = tf.placeholder(tf.int64, [None], name="i")
        w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, name="w")
        table = tf.Variable(np.arange(15, dtype=np.float32).reshape(5, 3), name="table")
        pos = tf.abs(a) + 0.5
        outputs = [
            tf.nn.softmax(a), tf.nn.log_softmax(a, axis=0),
            tf.reduce_sum(a, axis=1, keepdims=True), tf.reduce_mean(a),
            tf.reduce_max(a, axis=0), tf.reduce_min(a, axis=[0, 1]),
            tf.reduce_sum(tf.cast(a > 0, tf.int32), axis=1),
            tf.argmax(a, 1), tf.argmin(a, 0),
            tf.concat([a, a * 2.0], axis=1), tf.stack([a, -a], axis=-1),
            tf.squeeze(tf.expand_dims(a, 1), [1]), tf.transpose(a), tf.reshape(a, [-1]),
            a[::-1, 1:], a[:, -1], a[1:, None, ::2], a[..., 0],
            tf.where(a > 0.0, a, tf.zeros_like(a)), tf.logical_and(a > 0.0, a < 0.5),
            tf.logical_or(tf.logical_not(a > 0.0), tf.equal(a, 0.0)), tf.not_equal(a, 0.0),
            tf.less_equal(a, 0.2), tf.greater_equal(a, 0.2),
            tf.clip_by_value(a, -0.25, 0.25), tf.cast(a * 10.0, tf.int32),
            tf.one_hot(i, 4), tf.gather(table, tf.clip_by_value(i, 0, 4)),
            tf.nn.embedding_lookup(table, tf.clip_by_value(i, -5, 4)),
            tf.sqrt(pos), tf.exp(a), tf.log(pos), tf.negative(a), tf.sign(a), tf.nn.relu(a),
            tf.pow(pos, 2.0), tf.maximum(a, 0.1), tf.minimum(a, 0.1), tf.square(a),
            tf.matmul(a, w, transpose_b=True), tf.matmul(a, a, transpose_a=True),
            tf.sigmoid(a) / 3.0 - tf.tanh(a), tf.ones_like(i), a + tf.ones([3]),
            tf.log1p(pos), tf.math.expm1(a),
            tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(a), logits=a * 4.0),
        ]
        init = tf.global_variables_initializer()
    rng = np.random.default_rng(1)
    feeds = {a: rng.standard_normal((6, 3)).astype(np.float32),
             i: np.array([0, 3, -1, 4, 7, 2], dtype=np.int64)}
    return graph, [a, i], outputs, {"init": init, "feeds": feeds}


@pytest.mark.parametrize("opset", [17, 18])
def test_the_mapped_ops_agree_with_the_session(tmp_path, opset):
    graph, inputs, outputs, extra = _op_zoo()
    with tf.Session(graph=graph) as sess:
        sess.run(extra["init"])
        path = tmp_path / "zoo.onnx"
        check(tf.export_onnx(sess, inputs, outputs, path, opset=opset))
        feeds = extra["feeds"]
        got = run_onnx(path, {t.op.name: v for t, v in feeds.items()})
        want = sess.run(outputs, feeds)
    for tensor, g, w in zip(outputs, got, want, strict=True):
        assert g.dtype == np.asarray(w).dtype, tensor.name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=tensor.name)


def test_an_op_without_a_mapping_is_named(tmp_path):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        noisy = x + tf.random_uniform([2], name="noise")
        with tf.Session() as sess, pytest.raises(tf.OnnxExportError,
                                                 match="op 'random_uniform' .*'noise'") as info:
            tf.export_onnx(sess, [x], [noisy], tmp_path / "noise.onnx")
    assert isinstance(info.value, NotImplementedError)
    assert info.value.op == "random_uniform" and info.value.node_name == "noise"
    assert not (tmp_path / "noise.onnx").exists()


def test_missing_inputs_and_training_graphs_are_refused(tmp_path):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.placeholder(tf.float32, [None, 2], name="labels")
        w = tf.Variable(tf.ones([2, 2]), name="w")
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
        step = w.assign(w * 0.5)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(tf.OnnxExportError, match="placeholder 'labels'"):
                tf.export_onnx(sess, [x], [loss], tmp_path / "m.onnx")
            with pytest.raises(tf.OnnxExportError, match="assign node"):
                tf.export_onnx(sess, [x], [step], tmp_path / "m.onnx")
            with pytest.raises(ValueError, match="opset 9"):
                tf.export_onnx(sess, [x, y], [loss], tmp_path / "m.onnx", opset=9)
            # with both inputs given the same graph exports; an unused input is kept
            model = tf.export_onnx(sess, [x, y, tf.placeholder(tf.int64, [3], name="unused")],
                                   [loss, w], tmp_path / "m.onnx")
            check(model)
            got = run_onnx(tmp_path / "m.onnx", {"x": X, "labels": Y,
                                                 "unused": np.zeros(3, np.int64)})
            np.testing.assert_allclose(got[0], sess.run(loss, {x: X, y: Y}), rtol=1e-6)
            np.testing.assert_array_equal(got[1], np.ones((2, 2)))
