"""Compiler passes, each on its own, with graphs.verify after every pass.

Graphs are built directly as IR (``GraphBuilder`` below, shared by the planner and
executor tests), so these tests do not depend on the TF1-style front end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from builders import GraphBuilder, evaluate_graph, mlp_training_graph, ops_of, run_checked
from tapeflow.graphs import verify
from tapeflow.runtime import R, Spec, dtypes, evaluate, get
from tapeflow.static.compiler import passes as P
from tapeflow.static.compiler.lowering import lower
from tapeflow.static.compiler.pipeline import PASSES, specialize
from tapeflow.static.compiler.planner import mark_inplace
from tapeflow.static.errors import InvalidArgumentError

f32 = dtypes.float32


# ---- prune / dce -----------------------------------------------------------------------


def test_prune_keeps_only_what_outputs_need() -> None:
    b = GraphBuilder()
    x = b.placeholder((3,))
    used = R.exp(x)
    R.log(x)  # not fetched
    g = specialize(b.graph(used), {x.id: Spec((3,), f32)}).graph
    verify(g)
    assert ops_of(g) == ["exp"]
    assert P.dce(g) == (g, False)


# ---- specialisation and casts -------------------------------------------------------------


def test_specialize_fills_in_the_fed_shapes() -> None:
    b = GraphBuilder()
    x = b.placeholder((None, 3))
    s = R.sum(R.exp(x), axis=0)
    g = specialize(b.graph(s), {x.id: Spec((7, 3), f32)}).graph
    verify(g)
    assert g[x.id].shape == (7, 3) and g[s.id].shape == (3,)
    with pytest.raises(InvalidArgumentError, match="placeholder"):
        specialize(b.graph(s), {x.id: Spec((7, 4), f32)})


def test_insert_casts_makes_promotion_explicit() -> None:
    b = GraphBuilder()
    x, k = b.placeholder((3,)), b.placeholder((3,), dtypes.int64)
    y = b.call("mul", x, k)
    g, changed = run_checked(P.insert_casts, b.graph(y))
    assert changed and ops_of(g) == ["cast", "mul"]
    cast = next(n for n in g.nodes if n.op == "cast")
    assert cast.inputs == (k.id,) and cast.dtype is f32 and g[y.id].inputs == (x.id, cast.id)
    assert P.insert_casts(g)[1] is False


# ---- constant folding ------------------------------------------------------------------------


def test_fold_constants_evaluates_const_subgraphs_once() -> None:
    b = GraphBuilder()
    x = b.placeholder((2,))
    c = R.mul(R.exp(b.const(np.float32([0.0, 1.0]))), 2.0)
    y = R.add(x, c)
    g, changed = run_checked(P.fold_constants, b.graph(y))
    assert changed and ops_of(g) == ["add"]
    folded = g[g[y.id].inputs[1]]
    assert folded.kind == "const" and folded.dtype is f32
    np.testing.assert_array_equal(folded.value, np.exp(np.float32([0.0, 1.0])) * np.float32(2.0))


def test_fold_constants_skips_random_and_huge_results() -> None:
    b = GraphBuilder()
    r = b.call("random_uniform", shape=(2,), generator=None)
    big = b.call("full", shape=(100, 100), value=1.0)
    g, changed = P.fold_constants(b.graph(r, big), max_elements=1000)
    assert not changed and ops_of(g) == ["random_uniform", "full"]


def test_fold_uses_only_the_shape_of_shape_only_inputs() -> None:
    b = GraphBuilder()
    x = b.placeholder((2, 3))
    ones = b.call("full_like", x, value=1.0)
    g, changed = run_checked(P.fold_constants, b.graph(ones))
    assert changed and g.nodes[0].kind == "const" and len(g.nodes) == 1
    np.testing.assert_array_equal(g.nodes[0].value, np.ones((2, 3), np.float32))


# ---- CSE ----------------------------------------------------------------------------------


def test_cse_merges_identical_calls_and_small_consts() -> None:
    b = GraphBuilder()
    x = b.placeholder((3,))
    a1, a2 = R.exp(x), R.exp(x)
    s = R.add(R.mul(a1, b.const(np.float32(2))), R.mul(a2, b.const(np.float32(2))))
    g, changed = run_checked(P.cse, b.graph(s))
    assert changed and ops_of(g) == ["exp", "mul", "add"]
    assert sum(n.kind == "const" for n in g.nodes) == 1
    add = g[s.id]
    assert add.inputs[0] == add.inputs[1]


def test_cse_never_merges_random_draws_and_renames_outputs() -> None:
    b = GraphBuilder()
    r1 = b.call("random_normal", shape=(2,), generator=None)
    r2 = b.call("random_normal", shape=(2,), generator=None)
    x = b.placeholder((2,))
    e1, e2 = R.exp(x), R.exp(x)
    g, changed = run_checked(P.cse, b.graph(r1, r2, e1, e2))
    assert changed and ops_of(g).count("random_normal") == 2
    assert g.outputs == (r1.id, r2.id, e1.id, e1.id)


# ---- simplification -------------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda b, x: R.mul(x, b.const(np.float32(1))),
    lambda b, x: R.mul(b.const(np.ones(3, np.float32)), x),
    lambda b, x: R.add(b.const(np.float32(0)), x),
    lambda b, x: R.sub(x, b.const(np.float32(0))),
    lambda b, x: R.div(x, b.const(np.float32(1))),
    lambda b, x: R.transpose(R.transpose(x)),
    lambda b, x: R.reshape(x, shape=(2, 3)),
    lambda b, x: R.sum_to(x, x),
    lambda b, x: R.broadcast_like(x, x),
    lambda b, x: R.cast(x, dtype=f32),
])
def test_simplify_removes_trivial_ops(build: Any) -> None:
    b = GraphBuilder()
    x = b.placeholder((2, 3))
    y = R.exp(build(b, R.neg(x)))
    g, changed = run_checked(P.simplify, b.graph(y))
    g = run_checked(P.dce, g)[0]  # an inner transpose is left orphaned
    assert changed and ops_of(g) == ["neg", "exp"]


@pytest.mark.parametrize("build", [
    lambda b, x: R.mul(x, b.const(np.ones((4, 2, 3, 1), np.float32))),  # broadcasts: new shape
    lambda b, x: R.mul(x, b.const(np.float64(1))),  # promotes: new dtype
    lambda b, x: R.mul(x, b.const(np.float32(2))),
    lambda b, x: R.transpose(R.transpose(x, axes=(1, 0, 2)), axes=(0, 2, 1)),
    lambda b, x: R.reshape(x, shape=(3, 2, 1)),
])
def test_simplify_keeps_ops_that_change_values_shapes_or_dtypes(build: Any) -> None:
    b = GraphBuilder()
    x = b.placeholder((2, 3, 1))
    y = build(b, x)
    g, changed = run_checked(P.simplify, b.graph(y))
    assert not changed and g.outputs == (y.id,)


def test_simplify_with_unknown_shapes_does_nothing() -> None:
    b = GraphBuilder()
    x = b.placeholder((None, 3))
    y = R.exp(R.reshape_like(x, x))
    assert P.simplify(b.graph(y))[1] is False


# ---- in-place marking ------------------------------------------------------------------


def test_mark_inplace_only_where_input_dies() -> None:
    b = GraphBuilder()
    x = b.placeholder((4,))
    a = R.exp(x)          # x is a feed: never overwritten
    c = R.tanh(a)         # a dies here: in place
    d = R.neg(c)          # c is read again below: not in place
    e = R.add(d, c)       # d dies here: in place
    out = R.sum(e)
    assert mark_inplace(b.graph(out)) == frozenset({c.id, e.id})


def test_mark_inplace_respects_views_fetches_and_shapes() -> None:
    b = GraphBuilder()
    x = b.placeholder((2, 3))
    a = R.exp(x)
    v = R.transpose(a)              # a view of a: keeps a alive
    c = R.tanh(a)                   # a is read later through v: not in place
    m = R.matmul(v, c)              # last use of a (through v) and of c
    s = R.sum(m, axis=0)            # shape changes: not in place candidate
    fetched = R.sigmoid(s)          # fetched: lives outside the arena
    assert mark_inplace(b.graph(fetched)) == frozenset()


def test_pipeline_preserves_results_on_a_training_graph() -> None:
    g, h = mlp_training_graph()
    rng = np.random.default_rng(0)
    sources = {h["x"].id: rng.normal(size=(4, 2)).astype(np.float32),
               h["y"].id: rng.normal(size=(4, 2)).astype(np.float32)}
    sources.update({p.id: rng.normal(size=p.shape).astype(np.float32) for p in h["params"]})
    specs = {h["x"].id: Spec((4, 2), f32), h["y"].id: Spec((4, 2), f32)}
    g = specialize(g, specs).graph
    g = P.insert_casts(g)[0]
    want = evaluate_graph(g, sources)
    for entry in PASSES.entries:
        g, _ = run_checked(entry.fn, g)
    assert "sum_to" not in ops_of(g)
    assert not any(n.attrs.get("transpose_a") or n.attrs.get("transpose_b") for n in g.nodes)
    for got, expected in zip(evaluate_graph(g, sources), want, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_lowering_sum_to_keeps_integer_sums() -> None:
    b = GraphBuilder()
    x, k = b.placeholder((2, 3)), b.placeholder((2, 3), dtypes.int32)
    fs, ks = b.call("sum_to", x, b.placeholder((3,))), b.call("sum_to", k, b.placeholder((1, 3)))
    g, changed = run_checked(lower, b.graph(fs, ks))
    assert changed and ops_of(g) == ["sum", "reshape", "sum_to"]
    assert g[fs.id].op == "reshape" and g[fs.id].shape == (3,)


def test_passes_do_not_mutate_their_input() -> None:
    g, _ = mlp_training_graph()
    snapshot = [(n.id, n.op, n.inputs) for n in g.nodes]
    for entry in PASSES.entries:
        entry.fn(g)
    assert [(n.id, n.op, n.inputs) for n in g.nodes] == snapshot
    assert evaluate(get("add"), [np.float32(1), np.float32(2)], {}) == 3


def test_lowering_matmul_transposes_and_mean_is_bit_identical() -> None:
    b = GraphBuilder()
    a, w = b.placeholder((5, 3)), b.placeholder((4, 3))
    m = b.call("matmul", a, w, transpose_b=True)              # (5, 4)
    t = b.call("matmul", m, a, transpose_a=True)              # (4, 3)
    mean_all, mean_rows = R.mean(t), R.mean(t, axis=1, keepdims=True)
    half = b.call("mean", R.cast(t, dtype=dtypes.float16))    # float16 keeps numpy's mean
    g = b.graph(mean_all, mean_rows, half)
    rng = np.random.default_rng(5)
    sources = {a.id: rng.normal(size=(5, 3)).astype(np.float32),
               w.id: rng.normal(size=(4, 3)).astype(np.float32)}
    lowered, changed = run_checked(lower, g)
    assert changed and ops_of(lowered).count("transpose") == 2
    assert ops_of(lowered).count("mean") == 1 and ops_of(lowered).count("div") == 2
    assert not any(n.attrs.get("transpose_a") or n.attrs.get("transpose_b")
                   for n in lowered.nodes)
    for got, want in zip(evaluate_graph(lowered, sources), evaluate_graph(g, sources),
                         strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
