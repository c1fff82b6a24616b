"""The compiled executor: same results with every switch, fresh fetched arrays, errors."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest
from builders import GraphBuilder, mlp_training_graph
from tapeflow.graphs import Graph
from tapeflow.runtime import Generator, R, Spec, dtypes, evaluate, peak_bytes
from tapeflow.static.compiler import CompileOptions, compile
from tapeflow.static.compiler.executor import ExecutionError, MissingFeedError
from tapeflow.static.compiler.wrappers import returns_own_array

f32 = dtypes.float32
SWITCHES = ("fold_constants", "cse", "simplify", "lower", "materialize_transposes", "dce",
            "reorder", "inplace", "plan_memory")


def reference(g: Graph, feeds: dict[int, Any], variables: dict[int, Any]
              ) -> tuple[list[Any], dict[int, Any]]:
    """A plain interpreter: runtime.evaluate node by node (what the compiler must match)."""
    env: dict[int, Any] = {}
    updates = {}
    for n in g.nodes:
        if n.kind == "placeholder":
            env[n.id] = feeds[n.id]
        elif n.kind == "variable":
            env[n.id] = variables[n.id]
        elif n.kind == "const":
            env[n.id] = n.value
        elif n.kind == "call":
            env[n.id] = evaluate(n.opdef, [env[i] for i in n.inputs], dict(n.attrs))
        else:  # assign: the update lands after the run; its value is the assigned value
            updates[n.inputs[0]] = env[n.id] = env[n.inputs[1]]
    return [env[o] for o in g.outputs], updates


def specs_of(arrays: dict[int, Any]) -> dict[int, Spec]:
    return {k: Spec(tuple(v.shape), dtypes.as_dtype(v.dtype)) for k, v in arrays.items()}


def xor_setup() -> tuple[Graph, dict[str, Any], dict[int, Any], dict[int, Any]]:
    g, h = mlp_training_graph()
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    feeds = {h["x"].id: x, h["y"].id: np.stack([1 - x[:, 0] ** 2, x[:, 0]], 1)}
    rng = np.random.default_rng(0)
    variables = {p.id: rng.normal(size=p.shape).astype(np.float32) for p in h["params"]}
    return g, h, feeds, variables


def train(program: Any, feeds: dict[int, Any], variables: dict[int, Any], steps: int
          ) -> tuple[list[float], dict[int, Any]]:
    losses = []
    for _ in range(steps):
        values, updates = program.run(feeds, variables)
        losses.append(float(values[0]))
        variables = {**variables, **updates}
    return losses, variables


@pytest.mark.parametrize("off", [(), *[(s,) for s in SWITCHES], SWITCHES])
def test_training_is_bit_identical_with_any_switch_off(off: tuple[str, ...]) -> None:
    g, _, feeds, variables = xor_setup()
    baseline = compile(g, specs_of(feeds),
                             CompileOptions(**{s: False for s in SWITCHES}))
    program = compile(g, specs_of(feeds),
                            CompileOptions(**{s: False for s in off}))
    ref_losses, ref_vars = train(baseline, feeds, variables, 5)
    losses, new_vars = train(program, feeds, variables, 5)
    assert losses == ref_losses and losses[-1] < losses[0]
    for k in ref_vars:
        np.testing.assert_array_equal(new_vars[k], ref_vars[k])


def test_matches_a_plain_evaluate_interpreter() -> None:
    g, _, feeds, variables = xor_setup()
    program = compile(g, specs_of(feeds))
    (loss, *_), updates = program.run(feeds, variables)
    (ref_loss, *_), ref_updates = reference(g, feeds, variables)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    for k, v in ref_updates.items():
        np.testing.assert_allclose(updates[k], v, rtol=1e-5, atol=1e-7)


def test_fetched_values_are_not_overwritten_by_later_runs() -> None:
    b = GraphBuilder()
    x, w = b.placeholder((3, 4)), b.variable((4, 4))
    a = R.tanh(R.matmul(x, w))
    view = R.transpose(a)                       # a view of an arena buffer
    out = R.exp(R.matmul(a, w))                 # written straight into a fresh array
    g = b.graph(out, view, x, w, b.const(np.float32(2)))
    rng = np.random.default_rng(1)
    wv = rng.normal(size=(4, 4)).astype(np.float32)
    feeds1 = {x.id: rng.normal(size=(3, 4)).astype(np.float32)}
    feeds2 = {x.id: np.ones((3, 4), np.float32)}
    program = compile(g, specs_of(feeds1))
    first, _ = program.run(feeds1, {w.id: wv})
    kept = [np.array(v, copy=True) for v in first]
    second, _ = program.run(feeds2, {w.id: wv})
    for before, now in zip(first, kept, strict=True):
        np.testing.assert_array_equal(before, now)
    assert not any(np.shares_memory(a, b) for a, b in itertools.product(first, second))
    assert not np.shares_memory(first[2], feeds1[x.id]) and not np.shares_memory(first[3], wv)
    ref, _ = reference(g, feeds2, {w.id: wv})
    for got, want in zip(second, ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_kernels_that_ignore_out_and_copying_reshapes_are_correct() -> None:
    b = GraphBuilder()
    x = b.placeholder((3, 4))
    t = R.transpose(R.exp(x))                  # non-contiguous view
    r = R.reshape(t, shape=(2, 6))             # numpy must copy here
    e = b.call("eye", n=2, m=6)                # ignores out=
    y = R.sum(R.mul(R.tanh(r), R.add(e, 1.0)), axis=0)
    g = b.graph(y)
    feeds = {x.id: np.arange(12, dtype=np.float32).reshape(3, 4) / 10}
    for options in (CompileOptions(), CompileOptions(fold_constants=False)):
        program = compile(g, specs_of(feeds), options)
        for _ in range(2):  # a second run must not see the first run's leftovers
            got = program.run(feeds, {})[0][0]
            np.testing.assert_allclose(got, reference(g, feeds, {})[0][0], rtol=1e-6)


def test_dtype_promotion_is_explicit_and_matches_evaluate() -> None:
    b = GraphBuilder()
    x, k = b.placeholder((5,)), b.placeholder((5,), dtypes.int64)
    y = R.add(b.call("mul", x, k), b.call("div", k, k))
    g = b.graph(y)
    feeds = {x.id: np.linspace(0, 1, 5).astype(np.float32), k.id: np.arange(1, 6)}
    program = compile(g, specs_of(feeds))
    assert "cast" in [n.op for n in program.graph.nodes]
    got = program.run(feeds, {})[0][0]
    want = reference(g, feeds, {})[0][0]
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_data_dependent_shapes_and_random_ops_run_each_time() -> None:
    b = GraphBuilder()
    x = b.placeholder((6,))
    picked = b.call("mask_select", x, R.gt(x, 0.0))
    total = R.sum(R.mul(picked, 2.0))
    noise = b.call("random_uniform", shape=(3,), generator=Generator(0))
    g = b.graph(total, picked, noise)
    feeds = {x.id: np.float32([-1, 2, 3, -4, 5, 0])}
    program = compile(g, specs_of(feeds))
    (t1, p1, n1), _ = program.run(feeds, {})
    (t2, p2, n2), _ = program.run(feeds, {})
    assert float(t1) == 20.0 and p1.tolist() == [2, 3, 5]
    assert not np.array_equal(n1, n2)


def test_a_run_time_sized_result_never_aliases_an_input() -> None:
    # such a kernel runs without out=, and the plan may give its input's arena buffer to
    # another value right after: a result that is (a view of) the input must be a copy
    x = np.arange(6.0)
    passthrough = returns_own_array(lambda xp, a: a[1:])
    result = passthrough(np, x)
    assert result.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and not np.may_share_memory(result, x)
    fresh = np.arange(3.0)
    assert returns_own_array(lambda xp, a: fresh)(np, x) is fresh  # owned already: no copy


def test_errors_name_the_node_op_and_site() -> None:
    b = GraphBuilder()
    table, idx = b.placeholder((4, 3)), b.placeholder((2,), dtypes.int64)
    rows = b.call("take", table, idx)
    b.nodes[rows.id] = b.nodes[rows.id].with_(site="model.py:12", name="Embedding")
    g = b.graph(R.sum(rows))
    feeds = {table.id: np.zeros((4, 3), np.float32), idx.id: np.array([1, 9])}
    program = compile(g, specs_of(feeds))
    with pytest.raises(ExecutionError, match=r"While executing .*take.*Embedding.*model.py:12"):
        program.run(feeds, {})
    with pytest.raises(MissingFeedError, match="placeholder"):
        program.run({table.id: feeds[table.id]}, {})


def test_planned_runs_allocate_no_intermediates() -> None:
    b = GraphBuilder()
    x = b.placeholder((128, 128))
    y = x
    for _ in range(12):
        y = R.add(R.tanh(y), R.matmul(y, x))
    g = b.graph(y)
    feeds = {x.id: np.random.default_rng(0).normal(size=(128, 128)).astype(np.float32) / 64}
    one = 128 * 128 * 4
    planned = compile(g, specs_of(feeds))
    naive = compile(g, specs_of(feeds), CompileOptions(plan_memory=False))
    planned.run(feeds, {})
    naive.run(feeds, {})
    peak_planned, (out_planned, _) = peak_bytes(lambda: planned.run(feeds, {}))
    peak_naive, (out_naive, _) = peak_bytes(lambda: naive.run(feeds, {}))
    assert peak_planned < 1.5 * one  # just the fetched result
    assert peak_naive > 10 * one
    np.testing.assert_array_equal(out_planned[0], out_naive[0])


def test_initialising_assigns_do_not_read_the_variable() -> None:
    b = GraphBuilder()
    w = b.variable((2, 3))
    init = b.assign(w, b.call("full", shape=(2, 3), value=0.5))
    g = b.graph(init)
    program = compile(g, {})
    (value,), updates = program.run({}, {})  # w has no value yet: it is only written
    np.testing.assert_array_equal(value, np.full((2, 3), 0.5, np.float32))
    np.testing.assert_array_equal(updates[w.id], value)
    assert not np.shares_memory(value, updates[w.id])


# ---- through the TF1-style Session ------------------------------------------------------


def tf_xor(options: Any) -> tuple[Any, Any, Any]:
    import tapeflow.static as tf

    rng = np.random.default_rng(3)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
        y = tf.placeholder(tf.float32, shape=(None, 2), name="y")
        w1 = tf.Variable(rng.normal(size=(2, 5)).astype(np.float32))
        w2 = tf.Variable(rng.normal(size=(5, 2)).astype(np.float32))
        out = tf.sigmoid(tf.matmul(tf.sigmoid(tf.matmul(x, w1)), w2))
        loss = tf.reduce_mean(tf.square(out - y))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    return sess, (x, y), (loss, train)


def test_session_modes_agree_bit_for_bit() -> None:
    from tapeflow.static import CompileOptions

    data = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    feed_values = (data, data[:, ::-1].copy())
    losses = {}
    for mode, options in [("interpreted", CompileOptions(optimize=False, plan_memory=False)),
                          ("compiled", CompileOptions()),
                          ("unplanned", CompileOptions(plan_memory=False)),
                          ("unoptimised", CompileOptions(optimize=False))]:
        sess, (x, y), (loss, train) = tf_xor(options)
        feed = dict(zip((x, y), feed_values, strict=True))
        losses[mode] = [sess.run([loss, train], feed)[0] for _ in range(10)]
    assert losses["compiled"][-1] < losses["compiled"][0]
    for mode in losses:
        assert losses[mode] == losses["interpreted"], mode


def test_session_compiles_once_per_feed_signature_and_shows_the_plan() -> None:
    from tapeflow.static import CompileOptions
    from tapeflow.static.compiler.planner import Plan

    sess, (x, y), (loss, train) = tf_xor(CompileOptions())
    count = sess.compile_count
    small = {x: np.zeros((4, 2), np.float32), y: np.zeros((4, 2), np.float32)}
    big = {x: np.zeros((32, 2), np.float32), y: np.zeros((32, 2), np.float32)}
    for _ in range(3):
        sess.run([loss, train], small)
    assert sess.compile_count == count + 1
    sess.run([loss, train], big)  # a new batch size compiles a new plan
    assert sess.compile_count == count + 2
    plan_small, plan_big = sess.plan([loss, train], small), sess.plan([loss, train], big)
    assert sess.compile_count == count + 2  # plan() reuses the cached programs
    assert isinstance(plan_small, Plan) and plan_big.arena_bytes > plan_small.arena_bytes
    plan_small.validate()
    assert plan_small.lower_bound_bytes <= plan_small.arena_bytes <= plan_small.naive_bytes
    assert "arena_bytes" in str(plan_small)
    unplanned, (x2, y2), fetches = tf_xor(CompileOptions(optimize=False, plan_memory=False))
    shown = unplanned.plan(fetches, {x2: small[x], y2: small[y]})  # the plan it would get
    assert isinstance(shown, Plan) and shown.arena_bytes > 0


@pytest.mark.gpu
def test_gpu_executor_matches_cpu() -> None:
    from tapeflow.runtime import gpu_available

    if not gpu_available():
        pytest.skip("needs cupy and a CUDA device")
    g, _, feeds, variables = xor_setup()
    cpu = compile(g, specs_of(feeds))
    gpu = compile(g, specs_of(feeds), CompileOptions(device="gpu"))
    cpu_losses, cpu_vars = train(cpu, feeds, variables, 5)
    gpu_losses, gpu_vars = train(gpu, feeds, variables, 5)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    for k, v in cpu_vars.items():
        np.testing.assert_allclose(gpu_vars[k].get(), v, rtol=1e-4, atol=1e-6)


def test_a_fetched_assign_value_is_not_the_variable_itself() -> None:
    import tapeflow.static as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(3,), name="x")
        v = tf.Variable(np.zeros(3, np.float32))
        update = v.assign(x * 2.0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(update, {x: np.ones(3, np.float32)})
            got[:] = 7  # the caller owns what it fetched
            np.testing.assert_array_equal(sess.run(v), [2, 2, 2])


def test_the_schedule_is_straight_line_code_over_bound_buffers() -> None:
    g, _, feeds, variables = xor_setup()
    program = compile(g, specs_of(feeds))
    source = program.executor.source
    assert source.startswith("def schedule(feeds, variables):")
    assert "for " not in source and "while " not in source
    # add/sub/mul and plain matmul call their ufunc directly, into an arena view (out given
    # positionally) or allocating the array made for this run
    lines = [line.strip() for line in source.splitlines()]
    calls = [line for line in lines if line.startswith("u")]
    assert calls and all(re.search(r", [cv]\d+(, (True|False))?\)$", c) for c in calls)
    # each step is one kernel call, or the ufunc calls its kernel makes (sigmoid and the
    # fused chains, written out: f_tanh(...)); views of arena buffers were computed once
    lines_of = Counter(id(n) for n in program.executor._line_node.values())
    for n in program.executor.steps:
        kernel_lines = sum(f"k{n.id}(" in line or f"u{n.id}(" in line for line in lines)
        assert kernel_lines == 1 or (kernel_lines == 0 and lines_of[id(n)] >= 1), n.format()
    assert any(line.startswith("f_tanh(") for line in lines)  # sigmoid's own ufunc calls
    views = [n for n in program.graph.nodes if n.kind == "call" and n.opdef.view]
    assert views and any(n not in program.executor.steps for n in views)
