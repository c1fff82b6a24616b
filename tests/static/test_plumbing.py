"""TF1 plumbing of issue 21: tf.shape, ConfigProto/GPUOptions, exponential_decay,
tf.layers.dropout, tf.summary no-ops, tf.metrics (local variables and update op),
get_collection(scope=), Saver.save(write_meta_graph=...)."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf


def test_shape_is_read_at_run_time() -> None:
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        s = tf.shape(x)
        assert s.dtype == tf.int32 and s.shape.as_list() == [2]
        with tf.Session() as sess:
            assert sess.run(s, {x: np.zeros((5, 3))}).tolist() == [5, 3]
            assert sess.run(tf.shape(x, out_type=tf.int64), {x: np.zeros((1, 3))}).tolist() \
                == [1, 3]


def test_config_protos_are_accepted() -> None:
    config = tf.ConfigProto(allow_soft_placement=True,
                            gpu_options=tf.GPUOptions(allow_growth=True))
    config.gpu_options.per_process_gpu_memory_fraction = 0.4
    other = tf.ConfigProto()
    other.gpu_options.allow_growth = True  # fields made on first use, as protobuf's
    with tf.Graph().as_default(), tf.Session(config=config) as sess:
        assert sess.run(tf.constant(2.0)) == 2.0
    assert other.gpu_options.allow_growth is True


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_follows_tf1(staircase) -> None:
    with tf.Graph().as_default():
        step = tf.placeholder(tf.int32, [])
        lr = tf.train.exponential_decay(0.1, step, 10, 0.5, staircase=staircase)
        with tf.Session() as sess:
            got = [sess.run(lr, {step: s}) for s in (0, 5, 10, 25)]
    exponents = [s // 10 if staircase else s / 10 for s in (0, 5, 10, 25)]
    np.testing.assert_allclose(got, [0.1 * 0.5 ** e for e in exponents], rtol=1e-6)


def test_layers_dropout_follows_training() -> None:
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x = tf.ones([200, 10])
        training = tf.placeholder(tf.bool, [])
        y = tf.layers.dropout(x, rate=0.5, training=training)
        with tf.Session() as sess:
            off = sess.run(y, {training: False})
            on = sess.run(y, {training: True})
        assert tf.layers.dropout(x, 0.3) is not None
    np.testing.assert_array_equal(off, np.ones((200, 10)))
    assert set(np.unique(on)) == {0.0, 2.0} and 0.4 < (on == 0).mean() < 0.6


def test_summaries_are_documented_no_ops(tmp_path) -> None:
    with tf.Graph().as_default():
        loss = tf.constant(1.5)
        tf.summary.scalar("loss", loss)
        tf.summary.histogram("w", loss)
        merged = tf.summary.merge_all()
        writer = tf.summary.FileWriter(str(tmp_path), tf.get_default_graph())
        with tf.Session() as sess:
            summary, value = sess.run([merged, loss])
        writer.add_summary(summary, 1)
        writer.flush()
        writer.close()
    assert summary is None and value == 1.5
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_metrics_accuracy_accumulates_over_batches() -> None:
    with tf.Graph().as_default():
        labels = tf.placeholder(tf.int64, [None])
        predictions = tf.placeholder(tf.int64, [None])
        acc, update = tf.metrics.accuracy(labels, predictions)
        mean, mean_update = tf.metrics.mean(tf.cast(predictions, tf.float32))
        assert [v.name for v in tf.local_variables()] == [
            "accuracy/total:0", "accuracy/count:0", "mean/total:0", "mean/count:0"]
        assert tf.get_collection(tf.GraphKeys.LOCAL_VARIABLES, scope="mean") == \
            tf.local_variables()[2:]
        with tf.Session() as sess:
            sess.run(tf.local_variables_initializer())
            assert sess.run(acc) == 0.0
            first = sess.run(update, {labels: [1, 0, 1, 1], predictions: [1, 1, 1, 1]})
            second = sess.run([update, mean_update], {labels: [0, 0], predictions: [0, 1]})
            assert first == pytest.approx(0.75) and second[0] == pytest.approx(4 / 6)
            assert sess.run(acc) == pytest.approx(4 / 6)
            assert second[1] == pytest.approx(0.5) and sess.run(mean) == pytest.approx(0.5)
            sess.run(tf.local_variables_initializer())  # a new evaluation starts at zero
            assert sess.run(acc) == 0.0


def test_get_collection_scope_and_saver_switches(tmp_path) -> None:
    with tf.Graph().as_default():
        with tf.variable_scope("encoder"):
            a = tf.get_variable("w", [2])
        with tf.variable_scope("decoder"):
            tf.get_variable("w", [2])
        assert tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope="encoder") == [a]
        assert len(tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)) == 2
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "model"), global_step=3,
                              write_meta_graph=False)
    assert path.endswith("model-3")
