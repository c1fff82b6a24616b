"""Static shape arguments and values out of range (issue 18, item 13): TF1's errors.

``tf.zeros([2.5, 2])`` used to build a (2, 2) tensor; TF1 raises ``TypeError: Expected
int32, got 2.5 of type 'float' instead.``, also for 2.0. Python ints out of an int32 range
raise an error that names the tensor, never a raw ``OverflowError``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf


@pytest.mark.parametrize("make", [
    lambda: tf.zeros([2.5, 2]), lambda: tf.ones([2, 2.0]), lambda: tf.fill([2.0], 1.0),
    lambda: tf.random_uniform([3.0]), lambda: tf.constant(1.0, shape=[2.0, 1]),
    lambda: tf.zeros([True, 2]), lambda: tf.reshape(tf.ones([4]), [2.0, 2]),
], ids=["zeros", "ones", "fill", "random_uniform", "constant", "bool", "reshape"])
def test_float_and_bool_dims_are_refused(make) -> None:
    with tf.Graph().as_default() as g:
        before = len(g.nodes)
        with pytest.raises(TypeError, match=r"Expected int32, got (2\.5|2\.0|3\.0|True) of type"):
            make()
        assert len(g.nodes) <= before + 1  # (reshape's input was made before the mistake)


def test_integer_dims_of_any_integer_type_are_accepted() -> None:
    with tf.Graph().as_default():
        shape = tf.zeros([np.int64(2), np.int32(3)]).shape.as_list()
        assert shape == [2, 3]
        assert tf.reshape(tf.ones([6]), [np.int64(3), -1]).shape.as_list() == [3, 2]
        assert tf.zeros([1] * 64).shape.ndims == 64
        with pytest.raises(ValueError, match="ones: a tensor can have at most 64 dimensions"):
            tf.ones([1] * 65)


def test_out_of_range_ints_name_the_tensor() -> None:
    with tf.Graph().as_default():
        with pytest.raises(TypeError, match="Const: cannot convert .* dtype int32.*out of bounds"):
            tf.constant(2**40, dtype=tf.int32)
        idx = tf.placeholder(tf.int32, [None], name="idx")
        total = tf.reduce_sum(idx)
        with tf.Session() as sess:
            assert sess.run(total, {idx: [1, 2]}) == 3
            for _ in range(2):  # the second time through the session's fast path
                with pytest.raises(ValueError, match=r"Cannot feed value \[1099511627776, 1\] for "
                                                     r"Tensor 'idx:0' of dtype int32"):
                    sess.run(total, {idx: [2**40, 1]})
            assert sess.run(total, {idx: [1, 2]}) == 3
