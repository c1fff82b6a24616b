"""Static mode, running graphs: fetch structures, pruning, feed checks, variable semantics."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.graphs import Graph
from tapeflow.runtime import Spec
from tapeflow.static.compiler import compile


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_fetch_structures_come_back_in_the_same_shape():
    a = tf.constant([1.0, 2.0])
    b = a * 3
    init = tf.no_op(name="init")
    Pair = collections.namedtuple("Pair", "x y")
    with tf.Session() as sess:
        out = sess.run({"list": [a, b], "tuple": (b,), "pair": Pair(a, b), "op": init})
    np.testing.assert_array_equal(out["list"][0], [1.0, 2.0])
    np.testing.assert_array_equal(out["tuple"][0], [3.0, 6.0])
    assert isinstance(out["pair"], Pair) and out["op"] is None
    assert isinstance(out["tuple"], tuple) and isinstance(out["list"], list)


def test_a_scalar_fetch_is_a_numpy_scalar():
    with tf.Session() as sess:
        value = sess.run(tf.reduce_sum(tf.constant([1.0, 2.0])))
    assert isinstance(value, np.float32) and value == 3.0


def test_fetch_by_name():
    tf.constant(2.0, name="two")
    with tf.Session() as sess:
        assert sess.run("two:0") == 2.0


def test_run_executes_only_what_fetches_need():
    needed = tf.placeholder(tf.float32, [2], name="needed")
    tf.placeholder(tf.float32, [2], name="unused")  # never fed, never needed
    spare = tf.placeholder(tf.float32, [2], name="spare")
    y = needed * 2
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {needed: [1, 2]}), [2.0, 4.0])
        # feeding a placeholder the fetches do not need is allowed (and ignored)
        np.testing.assert_array_equal(sess.run(y, {needed: [1, 2], spare: [0, 0]}), [2.0, 4.0])


def test_feeds_are_converted_to_the_placeholder_dtype():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    i = tf.placeholder(tf.int32, [], name="i")
    with tf.Session() as sess:
        value = sess.run(x * 1, {x: [[1, 2]]})
        assert value.dtype == np.float32
        assert sess.run(i + 1, {i: 4}) == 5  # a scalar feed


def test_a_placeholder_without_shape_accepts_any_shape():
    x = tf.placeholder(tf.float32, name="anything")
    y = x * 2
    with tf.Session() as sess:
        assert sess.run(y, {x: 3.0}) == 6.0
        assert sess.run(y, {x: np.ones((2, 3, 4))}).shape == (2, 3, 4)


def test_wrong_feed_shape_raises_tf_message():
    x = tf.placeholder(tf.float32, [None, 2], name="features")
    with tf.Session() as sess:
        with pytest.raises(ValueError) as info:
            sess.run(x * 1, {x: np.zeros((3, 3))})
    assert str(info.value) == ("Cannot feed value of shape (3, 3) for Tensor 'features:0', "
                               "which has shape '(?, 2)'")


def test_missing_feed_names_every_missing_placeholder():
    a = tf.placeholder(tf.float32, [2], name="alpha")
    b = tf.placeholder(tf.float32, [2], name="beta")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(a + b)
    message = str(info.value)
    assert "You must feed a value for placeholder tensor" in message
    assert "'alpha'" in message and "'beta'" in message and __file__ in message


def test_uninitialized_variable_is_named():
    w = tf.Variable(tf.zeros([2]), name="weights")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value weights"):
            sess.run(w * 2)


def test_unknown_fetch_says_what_it_got():
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="Fetch argument 3 has invalid type <class 'int'>"):
            sess.run(3)
        with pytest.raises(TypeError, match="Fetch argument None"):
            sess.run([None])


def test_fetch_or_feed_from_another_graph_is_rejected():
    other = tf.Graph()
    with other.as_default():
        foreign = tf.placeholder(tf.float32, [1])
    mine = tf.constant(1.0)
    with tf.Session() as sess:
        with pytest.raises(ValueError, match="not an element of this graph"):
            sess.run(foreign)
        with pytest.raises(ValueError, match="not an element of this graph"):
            sess.run(mine, {foreign: [1.0]})


def test_variable_assign_and_initializer():
    v = tf.Variable([1.0, 2.0], name="v")
    with tf.Session() as sess:
        assert sess.run(v.initializer) is None
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
        np.testing.assert_array_equal(sess.run(v.assign([5.0, 6.0])), [5.0, 6.0])
        np.testing.assert_array_equal(sess.run(v), [5.0, 6.0])
        sess.run(v.assign_add([1.0, 1.0]))
        sess.run(v.assign_sub([0.5, 0.5]))
        np.testing.assert_array_equal(sess.run(v.read_value()), [5.5, 6.5])


def test_variables_from_python_and_numpy_scalars_and_arrays():
    a = tf.Variable(3)
    b = tf.Variable(2.5)
    c = tf.Variable(np.float64(1.5))
    d = tf.Variable(np.arange(4).reshape(2, 2))
    assert (a.dtype, b.dtype, c.dtype, d.dtype) == (tf.int32, tf.float32, tf.float64, tf.int64)
    assert a.op.name == "Variable" and b.op.name == "Variable_1"
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(a) == 3 and sess.run(b) == 2.5 and sess.run(c) == 1.5
        assert sess.run(d).shape == (2, 2)


def test_variable_collections_and_initializers():
    a = tf.Variable(1.0, name="a")
    b = tf.Variable(2.0, name="b", trainable=False)
    assert tf.global_variables() == [a, b] and tf.trainable_variables() == [a]
    with tf.Session() as sess:
        sess.run(tf.variables_initializer([a]))
        assert sess.run(a) == 1.0
        with pytest.raises(tf.errors.FailedPreconditionError, match="b"):
            sess.run(b)


def test_reads_see_the_start_of_run_value_and_assignments_land_after():
    v = tf.Variable(1.0, name="v")
    doubled = v.assign(v * 2)
    with tf.Session() as sess:
        sess.run(v.initializer)
        old, new = sess.run([v, doubled])
        assert (old, new) == (1.0, 2.0)
        assert sess.run(v) == 2.0
        # two assigns read the same start value; the last one built wins
        plus_one, plus_ten = v.assign_add(1.0), v.assign_add(10.0)
        assert sess.run([plus_one, plus_ten]) == [3.0, 12.0]
        assert sess.run(v) == 12.0


def test_a_failed_run_changes_no_variable():
    v = tf.Variable(1.0, name="v")
    x = tf.placeholder(tf.float32, name="x")
    step = v.assign(v + 1.0)
    bad = tf.matmul(x, x)  # fails at run time for a vector feed
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(tf.errors.InvalidArgumentError, match="MatMul"):
            sess.run([step, bad], {x: [1.0, 2.0]})
        assert sess.run(v) == 1.0


def test_fetched_values_do_not_alias_session_state():
    v = tf.Variable([1.0, 2.0], name="v")
    x = tf.placeholder(tf.float32, [2], name="x")
    set_v = v.assign(x)
    fed = np.array([3.0, 4.0], np.float32)
    with tf.Session() as sess:
        sess.run(v.initializer)
        fetched = sess.run(v)
        fetched[0] = 100.0
        sess.run(set_v, {x: fed})
        fed[0] = 100.0
        np.testing.assert_array_equal(sess.run(v), [3.0, 4.0])


def test_programs_are_cached_per_fetches_and_feed_signature():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = tf.reduce_sum(x)
    with tf.Session() as sess:
        for _ in range(3):
            sess.run(y, {x: np.ones((4, 2))})
        assert sess.compile_count == 1
        sess.run(y, {x: np.ones((5, 2))})  # a new feed shape
        assert sess.compile_count == 2
        sess.run([y, x], {x: np.ones((5, 2))})  # new fetches
        assert sess.compile_count == 3


def test_ops_added_after_the_session_exists_work():
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.Session() as sess:
        assert sess.run(tf.reduce_sum(x), {x: [1, 2]}) == 3.0
        later = tf.reduce_max(x * 10)
        assert sess.run(later, {x: [1, 2]}) == 20.0


def test_control_dependencies_run_with_what_needs_them():
    counter = tf.Variable(0, name="counter")
    bump = counter.assign_add(1)
    with tf.control_dependencies([bump]):
        out = tf.identity(tf.constant(5))
    with tf.Session() as sess:
        sess.run(counter.initializer)
        assert sess.run(out) == 5
        assert sess.run(out) == 5
        assert sess.run(counter) == 2
        sess.run(tf.group(bump, bump))
        assert sess.run(counter) == 3


def test_feeding_an_intermediate_tensor_cuts_the_graph_there():
    x = tf.placeholder(tf.float32, [2], name="x")
    hidden = x * 2
    out = hidden + 1
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(out, {hidden: [10.0, 20.0]}), [11.0, 21.0])


def test_eval_and_run_use_the_default_session():
    x = tf.constant([1.0, 2.0])
    v = tf.Variable(3.0)
    with tf.Session():
        v.initializer.run()
        np.testing.assert_array_equal((x * 2).eval(), [2.0, 4.0])
        assert v.eval() == 3.0
    with pytest.raises(ValueError, match="No default session"):
        x.eval()


def test_a_closed_session_refuses_to_run():
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(tf.constant(1.0))


def test_programs_follow_the_execution_contract():
    x = tf.placeholder(tf.float32, [2], name="x")
    v = tf.Variable([1.0, 1.0], name="v")
    new = v.assign(v + x)
    nodes = tf.get_default_graph().nodes
    graph = Graph(tuple(nodes.values()), (new.node_id, v.node_id))
    program = compile(graph, {x.node_id: Spec((2,), x.dtype)}, tf.CompileOptions())
    assert len(program.source.graph) == 4  # x, v, add, assign: the initializer is pruned away
    assert program.source.feed_ids == (x.node_id,) and program.source.read_vars == (v.node_id,)
    start = np.array([1.0, 1.0], np.float32)
    values, updates = program.run({x.node_id: np.array([2.0, 3.0], np.float32)},
                                  {v.node_id: start})
    np.testing.assert_array_equal(values[0], [3.0, 4.0])
    np.testing.assert_array_equal(values[1], [1.0, 1.0])  # the read saw the start value
    np.testing.assert_array_equal(updates[v.node_id], [3.0, 4.0])
    np.testing.assert_array_equal(start, [1.0, 1.0])  # the input was not written into


def test_session_on_a_given_graph():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(4.0)
    with tf.Session(graph=g) as sess:
        assert sess.run(c) == 4.0
