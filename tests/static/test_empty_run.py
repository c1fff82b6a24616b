"""A run that fetches nothing, and an initializer with no variables, are valid TF1 calls."""

import tapeflow.static as tf


def test_run_of_an_empty_fetch_list_returns_an_empty_list():
    with tf.Graph().as_default():
        assert tf.Session().run([]) == []


def test_initializer_of_a_graph_without_variables_runs():
    with tf.Graph().as_default():
        init = tf.global_variables_initializer()
        with tf.Session() as sess:
            assert sess.run(init) is None
