"""Static mode, building graphs: names, scopes, shapes, dtypes, errors, printing, export."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.graphs import verify


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_unique_names_and_tensor_repr():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    a = tf.matmul(x, tf.ones([3, 5]))
    b = tf.matmul(x, tf.ones([3, 5]))
    c = tf.matmul(x, tf.ones([3, 5]), name="logits")
    assert (a.op.name, b.op.name, c.op.name) == ("MatMul", "MatMul_1", "logits")
    assert repr(a) == "<Tensor 'MatMul:0' shape=(?, 5) dtype=float32>"
    assert str(a) == repr(a)
    assert a.name == "MatMul:0" and a.op.type == "MatMul" and a.graph is tf.get_default_graph()
    assert a.shape.as_list() == [None, 5] and a.get_shape()[1].value == 5
    assert a.dtype == tf.float32 and a.op.inputs[0] is x
    assert tf.get_default_graph().get_tensor_by_name("logits:0") is c


def test_name_scopes_nest_and_number():
    with tf.name_scope("layer"):
        a = tf.constant(1.0) * 2
        with tf.name_scope("inner"):
            b = tf.negative(a, name="neg")
    with tf.name_scope("layer"):
        c = tf.sigmoid(a)
    assert a.op.name == "layer/Mul"
    assert b.op.name == "layer/inner/neg"
    assert c.op.name == "layer_1/Sigmoid"


def test_graph_as_default_and_reset():
    g = tf.Graph()
    with g.as_default():
        x = tf.constant(1.0)
        assert tf.get_default_graph() is g
    assert x.graph is g and tf.get_default_graph() is not g
    old = tf.get_default_graph()
    tf.reset_default_graph()
    assert tf.get_default_graph() is not old


def test_the_default_graph_stack_is_per_thread():
    import threading

    inside, made = threading.Event(), threading.Event()
    g = tf.Graph()
    seen = {}

    def holder():
        with g.as_default():
            inside.set()
            assert made.wait(60)
            seen["holder"] = tf.constant(2.0).graph

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(60)  # the other thread has made g its default now
    try:
        here = tf.constant(1.0)
        tf.reset_default_graph()  # allowed: this thread is not inside an as_default block
        after = tf.get_default_graph()
    finally:
        made.set()
        thread.join(60)
    assert not thread.is_alive()
    assert here.graph is not g and seen["holder"] is g
    assert after is not here.graph and after is not g
    others = []
    worker = threading.Thread(target=lambda: others.append(tf.get_default_graph()))
    worker.start()
    worker.join(60)
    assert others == [after]  # a thread with no graph of its own uses the global default


@pytest.mark.parametrize("module", ["tapeflow.static.graph", "tapeflow.static.conventions"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_mixing_tensors_of_two_graphs_is_an_error():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0)
    with g2.as_default():
        b = tf.constant(2.0)
    with pytest.raises(ValueError, match="same graph"):
        tf.add(a, b)


def test_shape_error_names_op_and_both_shapes_at_build_time():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with pytest.raises(ValueError) as info:
        tf.matmul(x, tf.ones([4, 5]))
    message = str(info.value)
    assert "'MatMul'" in message and "[?,3]" in message and "[4,5]" in message
    with pytest.raises(ValueError, match=r"'Add'.*\[2,3\], \[4\]"):
        tf.ones([2, 3]) + tf.ones([4])


def test_nodes_record_the_users_source_line():
    x = tf.placeholder(tf.float32, [2], name="x")
    node = tf.get_default_graph().node(x.node_id)
    assert node.site.startswith(__file__) and node.kind == "placeholder"


def test_python_numbers_take_the_other_operands_dtype():
    x = tf.placeholder(tf.float64, [3])
    assert (x * 2).dtype == tf.float64
    assert (2 * x).dtype == tf.float64
    assert (1 - x).dtype == tf.float64
    assert (x + np.float32(1.0)).dtype == tf.float64
    i = tf.placeholder("int32", [3])
    assert (i + 1).dtype == tf.int32
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant(1).dtype == tf.int32
    assert tf.constant(np.arange(3)).dtype == tf.int64


def test_dtypes_given_as_strings():
    assert tf.placeholder("float").dtype == tf.float32
    assert tf.placeholder("float32").dtype == tf.float32
    assert tf.placeholder("int32").dtype == tf.int32
    assert tf.zeros([2], dtype="float64").dtype == tf.float64


def test_operators_build_the_expected_ops():
    x = tf.placeholder(tf.float32, [2, 2], name="x")
    cases = {
        "Add": x + 1, "Sub": 1 - x, "Mul": x * x, "RealDiv": x / 2, "Pow": x ** 2,
        "MatMul": x @ x, "Neg": -x, "Abs": abs(x), "Less": x < 0, "LessEqual": x <= 0,
        "Greater": x > 0, "GreaterEqual": x >= 0, "StridedSlice": x[:, 0],
    }
    for op_type, t in cases.items():
        assert t.op.type == op_type, op_type
    assert (x > 0).dtype == tf.bool_
    assert x[:, 0].shape.as_list() == [2]
    assert x[None, 1].shape.as_list() == [1, 2]


def test_numpy_array_on_the_left_defers_to_the_tensor():
    x = tf.placeholder(tf.float32, [3])
    y = np.ones(3, np.float32) * x
    assert isinstance(y, tf.Tensor) and y.op.type == "Mul"


def test_tensor_is_not_a_bool_and_not_iterable():
    x = tf.placeholder(tf.float32, [3])
    with pytest.raises(TypeError, match="bool"):
        bool(x)
    with pytest.raises(TypeError, match="not iterable"):
        list(x)


def test_tensor_shape_behaves_like_tf1():
    s = tf.TensorShape([None, 5])
    assert str(s) == "(?, 5)" and s.ndims == 2 and not s.is_fully_defined()
    assert s.is_compatible_with([3, 5]) and not s.is_compatible_with([3, 4])
    assert s == [None, 5] and s[1] == 5 and int(s[1]) == 5
    unknown = tf.TensorShape(None)
    assert str(unknown) == "<unknown>" and unknown.is_compatible_with([1, 2, 3])
    with pytest.raises(ValueError, match="unknown TensorShape"):
        unknown.as_list()
    with pytest.raises(ValueError, match="must be >= 0"):
        tf.placeholder(tf.float32, [-1, 2])


def test_placeholder_without_shape_has_unknown_rank():
    x = tf.placeholder(tf.float32, name="anything")
    assert x.shape.ndims is None
    assert (x * 2).shape.ndims is None


def test_set_shape_refines_and_rejects_conflicts():
    x = tf.placeholder(tf.float32, [None, 3])
    x.set_shape([4, 3])
    assert x.shape.as_list() == [4, 3]
    with pytest.raises(ValueError, match="incompatible"):
        x.set_shape([4, 2])


def test_graph_prints_readably_and_exports_to_networkx():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable(tf.ones([2, 3]), name="W")
    y = tf.nn.relu(tf.matmul(x, w), name="y")
    graph = tf.get_default_graph()
    text = graph.format()
    assert "placeholder()  # x" in text and "matmul(%0, %" in text and "# y" in text
    ir = graph.as_ir([y])
    verify(ir)
    assert ir.outputs == (y.node_id,)
    nxg = graph.to_networkx()
    assert nxg.nodes[y.node_id]["op"] == "relu"
    assert nxg.has_edge(w.node_id, y.op.inputs[0].node_id)


def test_control_dependencies_record_targets():
    a = tf.Variable(1.0, name="a")
    inc = a.assign_add(1.0)
    with tf.control_dependencies([inc]):
        b = tf.identity(tf.constant(2.0))
    graph = tf.get_default_graph()
    assert graph.control_deps[b.node_id] == (inc.node_id,)
    assert b.op.control_inputs == [inc.op]
    grouped = tf.group(inc, b, name="both")
    assert grouped.type == "NoOp" and set(grouped.targets) == {inc.node_id, b.node_id}


def test_finalized_graph_rejects_new_ops():
    g = tf.Graph()
    with g.as_default():
        tf.constant(1.0)
        g.finalize()
        with pytest.raises(RuntimeError, match="finalized"):
            tf.constant(2.0)


def test_same_seeds_give_the_same_numbers_every_time_a_graph_is_built():
    def draw(graph_seed, op_seed=None):
        with tf.Graph().as_default() as g:
            g.seed = graph_seed
            r = tf.random_uniform([4], seed=op_seed)
            with tf.Session() as sess:
                return sess.run(r)

    np.testing.assert_array_equal(draw(1), draw(1))
    np.testing.assert_array_equal(draw(None, 7), draw(None, 7))
    assert not np.array_equal(draw(1), draw(2))
    tf.set_random_seed(3)
    a = tf.random_normal([3], seed=1)
    b = tf.truncated_normal([3], stddev=0.5, seed=2)
    with tf.Session() as sess:
        av, bv = sess.run([a, b])
    assert av.dtype == np.float32 and np.all(np.abs(bv) <= 1.0)


def test_a_float_array_sets_the_dtype_of_python_numbers_beside_it() -> None:
    # as in TF: tf.multiply(float64 array, 0.8) is a float64 product by float64's 0.8
    with tf.Graph().as_default():
        product = tf.multiply(np.array([1.0, 2.0]), 0.8)
        ints = tf.add(np.array([1, 2]), 3)
        values = tf.Session().run([product, ints])
    assert product.dtype == tf.float64 and values[0].tolist() == [0.8, 1.6]
    assert values[1].tolist() == [4, 5]
