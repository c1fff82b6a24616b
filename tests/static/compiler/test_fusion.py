"""The fusion pass and the ufunc-level schedule: same bits as without them, fewer calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from builders import rnn_graph
from tapeflow.runtime import REGISTRY, Spec, get
from tapeflow.runtime import dtypes as dt
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler.fusion import UfuncCall, fuse, ufunc_calls
from tapeflow.visualize.static_graph import node_label


def xor_training(options: CompileOptions, dtype: Any = np.float32, runs: int = 5
                 ) -> tuple[list[Any], list[Any], Any]:
    """The XOR training step of the benchmarks: losses, final weights, the plan."""
    rng = np.random.default_rng(3)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(dtype, (None, 2), name="x")
        y = tf.placeholder(dtype, (None, 2), name="y")
        w1 = tf.Variable(rng.standard_normal((2, 5)).astype(dtype), name="w1")
        b1 = tf.Variable(np.zeros(5, dtype), name="b1")
        w2 = tf.Variable(rng.standard_normal((5, 2)).astype(dtype), name="w2")
        b2 = tf.Variable(np.zeros(2, dtype), name="b2")
        hidden = tf.sigmoid(tf.matmul(x, w1) + b1)
        loss = tf.losses.mean_squared_error(labels=y, predictions=tf.matmul(hidden, w2) + b2)
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    feed = {x: np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype),
            y: np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype)}
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run([loss, train], feed)[0] for _ in range(runs)]
        return losses, sess.run([w1, b1, w2, b2]), sess.plan([loss, train], feed)


def rnn_training(options: CompileOptions, runs: int = 4) -> list[Any]:
    graph, init, feed, (loss, train), params = rnn_graph(batch=8, steps=7, hidden=6)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run([loss, train], feed)[0] for _ in range(runs)]
        sess.plan([loss, train], feed).validate()
        return losses + sess.run(params)


def fused_graph() -> tuple[Any, ...]:
    """The nodes of a compiled bias-and-sigmoid layer."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, (4, 3), name="x")
        w = tf.Variable(np.ones((3, 2), np.float32))
        y = tf.sigmoid(tf.matmul(x, w) + np.float32(1))
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    entry, _, _ = sess._lookup(y, {x: np.ones((4, 3), np.float32)})
    return entry.program.graph.nodes


def same_bits(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert np.asarray(u).dtype == np.asarray(v).dtype
        assert np.array_equal(u, v), (u, v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exact", [False, True])
def test_xor_training_is_bit_identical_with_fusion_on_and_off(dtype: Any, exact: bool) -> None:
    on_losses, on_weights, plan = xor_training(CompileOptions(exact=exact), dtype)
    off_losses, off_weights, _ = xor_training(CompileOptions(exact=exact, fuse=False), dtype)
    same_bits(on_losses, off_losses)
    same_bits(on_weights, off_weights)
    # and with neither the passes nor the planner: the registry kernels one by one
    plain_losses, plain_weights, _ = xor_training(CompileOptions(optimize=False,
                                                                 plan_memory=False), dtype)
    if exact:  # (the default options may transpose a weight once: same bits on OpenBLAS)
        same_bits(on_losses, plain_losses)
        same_bits(on_weights, plain_weights)
    plan.validate()


@pytest.mark.parametrize("recompute", [None, "sqrt"])
def test_rnn_training_is_bit_identical_with_fusion_on_and_off(recompute: Any) -> None:
    same_bits(rnn_training(CompileOptions(recompute=recompute)),
              rnn_training(CompileOptions(recompute=recompute, fuse=False)))


def test_the_plan_says_which_ops_each_fused_node_runs() -> None:
    _, _, plan = xor_training(CompileOptions())
    ops = [s.op for s in plan.steps]
    # bias and activation; the loss residual; each of the four SGD updates
    assert "fused(add+sigmoid)" in ops and "fused(add+sub)" in ops
    assert ops.count("fused(mul+sub)") == 4
    assert "fused(add+sigmoid)" in str(plan)
    # a drawing of the compiled graph labels the node with its ops, not its step table
    node = next(n for n in fused_graph() if n.op == "fused" and "sigmoid" in n.attrs["ops"])
    assert node_label(node).endswith("fused(ops=add+sigmoid)")
    _, _, unfused = xor_training(CompileOptions(fuse=False))
    assert not any(op.startswith("fused") for op in (s.op for s in unfused.steps))
    assert len(plan.steps) < len(unfused.steps)
    assert plan.arena_bytes <= unfused.arena_bytes


def test_a_chain_spread_over_the_schedule_is_not_fused() -> None:
    # the weight gradients of an unrolled RNN are sums of one term per step, each made in
    # that step's backward: fused, every term would stay alive to the end of the sweep
    graph, _, feed, (loss, train), _ = rnn_graph(batch=4, steps=12)
    fused_arena = {}
    for fusion in (True, False):
        sess = tf.Session(graph=graph, options=CompileOptions(fuse=fusion, dot_merge=False))
        entry, _, _ = sess._lookup([loss, train], feed)
        chains = [n.attrs["ops"] for n in entry.program.graph.nodes if n.op == "fused"]
        assert all(c.count("add") <= 3 for c in chains), chains
        assert bool(chains) == fusion
        fused_arena[fusion] = sess.plan([loss, train], feed).arena_bytes
    assert fused_arena[True] <= fused_arena[False]


def test_fuse_is_a_pure_pass_that_keeps_the_tail_id() -> None:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (3,), name="x")
        y = tf.sigmoid(x * 2.0 + 1.0)
    sess = tf.Session(graph=graph, options=CompileOptions(fuse=False))
    entry, _, _ = sess._lookup(y, {x: np.ones(3)})
    before = entry.program.graph
    after, changed = fuse(before)
    assert changed and after is not before
    (node,) = [n for n in after.nodes if n.kind == "call"]
    assert node.op == "fused" and node.attrs["ops"] == "mul+add+sigmoid"
    assert node.id == y.node_id and after.outputs == before.outputs
    assert fuse(after) == (after, False)  # nothing left to fuse
    value = get("fused").kernel(np, np.ones(3), *(before[i].value for i in node.inputs[1:]),
                                **node.attrs)
    assert np.array_equal(value, sess.run(y, {x: np.ones(3)}))


def test_a_kernel_is_recorded_as_its_ufunc_calls() -> None:
    spec = Spec((4, 5), dt.float32)
    calls = ufunc_calls(get("sigmoid"), {}, [spec], spec)
    assert calls is not None
    assert [c.ufunc for c in calls] == [np.multiply, np.tanh, np.add, np.multiply]
    # x * 0.5 into out, then in place: the Python 0.5 is a float32 0-d array now
    first = calls[0]
    assert first.operands[0] == 0 and first.out == 1
    half = first.operands[1]
    assert isinstance(half, np.ndarray) and half.dtype == np.float32 and half == 0.5
    # a kernel that allocates or calls anything but a ufunc runs as it is
    assert ufunc_calls(get("softplus"), {}, [spec], spec) is None
    assert ufunc_calls(get("erf"), {}, [spec], spec) is None


def run_calls(calls: list[UfuncCall], inputs: list[Any], out: Any) -> Any:
    arrays = [*inputs, out]
    for call in calls:
        call.ufunc(*(arrays[a] if isinstance(a, int) else a for a in call.operands),
                   out=arrays[call.out])
    return out


def test_recorded_calls_compute_the_kernels_bits_for_every_traceable_op() -> None:
    rng = np.random.default_rng(0)
    traced = []
    for name, op in sorted(REGISTRY.items()):
        if op.kind != "elementwise" or op.arity not in (1, 2) or name == "fused":
            continue
        for dtype, np_dtype in ((dt.float32, np.float32), (dt.float64, np.float64)):
            spec = Spec((3, 4), dtype)
            try:
                output = op.infer(*[spec] * op.arity)
            except Exception:  # noqa: BLE001 - an op that takes other inputs
                continue
            calls = ufunc_calls(op, {}, [spec] * op.arity, output)
            if calls is None:
                continue
            traced.append(name)
            inputs = [rng.uniform(0.1, 2.0, (3, 4)).astype(np_dtype) for _ in range(op.arity)]
            expected = op.kernel(np, *inputs, out=np.empty((3, 4), output.dtype.np))
            got = run_calls(calls, inputs, np.empty((3, 4), output.dtype.np))
            assert got.dtype == expected.dtype and np.array_equal(got, expected), name
    # the activations and their gradients written as several ufuncs are among them
    assert {"sigmoid", "sigmoid_grad", "tanh_grad", "add", "relu"} <= set(traced)


def test_python_numbers_keep_numpys_loop() -> None:
    # an int64 input with a Python float: numpy runs the float64 loop; so does the 0-d array
    spec = Spec((3,), dt.int64)
    out = Spec((3,), dt.float64)

    class Op:  # a kernel shaped like the registry's, on one input
        @staticmethod
        def kernel(xp: Any, x: Any, out: Any = None) -> Any:
            return xp.multiply(x, 0.5, out=out)

    calls = ufunc_calls(Op, {}, [spec], out)  # type: ignore[arg-type]
    assert calls is not None
    scale = calls[0].operands[1]
    assert np.asarray(scale).dtype == np.float64
    x = np.arange(3)
    assert np.array_equal(run_calls(calls, [x], np.empty(3)), x * 0.5)


def test_the_schedule_runs_fewer_kernel_calls_with_fusion() -> None:
    def kernel_calls(options: CompileOptions) -> int:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, (4, 3), name="x")
            w = tf.Variable(np.ones((3, 2), np.float32))
            b = tf.Variable(np.zeros(2, np.float32))
            y = tf.sigmoid(tf.matmul(x, w) + b)
            init = tf.global_variables_initializer()
        sess = tf.Session(graph=graph, options=options)
        sess.run(init)
        entry, _, _ = sess._lookup(y, {x: np.ones((4, 3), np.float32)})
        return len(entry.program.executor.steps)

    assert kernel_calls(CompileOptions()) == kernel_calls(CompileOptions(fuse=False)) - 1


def test_arrays_made_for_the_run_stay_row_major() -> None:
    # a fused chain whose result is fetched allocates it with its first ufunc call, row-major
    # as the executor's own allocation was, even when the feed is column-major
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (3, 4), name="x")
        y = tf.sigmoid(x * 2.0 + 1.0)
    data = np.asfortranarray(np.arange(12.0).reshape(3, 4) / 10)
    with tf.Session(graph=graph) as sess:
        got = sess.run(y, {x: data})
        entry, _, _ = sess._lookup(y, {x: data})
    assert "order='C'" in entry.program.executor.source
    assert got.flags["C_CONTIGUOUS"]
    assert np.array_equal(got, (1 + np.tanh((data * 2.0 + 1.0) * 0.5)) * 0.5)
