"""Products summed into their addend by the GEMM library (compiler/gemm_acc.py, gemm_rows.py,
gemm_sums.py): the RNN step's recurrence written over its row of the block, weight gradients
summed into one buffer, bias gradients as products with a row of ones. Results equal numpy's
to rounding, with MKL and with numpy's fallbacks; exact mode is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from builders import GraphBuilder, f64, rnn_graph
from tapeflow.graphs import Graph
from tapeflow.runtime import Spec, blas, get
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler import gemm_acc as gemm_acc_module
from tapeflow.static.compiler.gemm_acc import gemm_acc
from tapeflow.static.compiler.gemm_rows import fold_row_bias


def _rnn(options: CompileOptions, dtype=np.float64):
    """builders.rnn_graph (an Elman RNN with both biases, from a zero state, trained by
    SGD) over 20 steps, which dot_merge cuts into blocks: session, fetches, feed, weights."""
    graph, init, feed, fetches, weights = rnn_graph(steps=20, hidden=8, dtype=dtype)
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    return sess, list(fetches), feed, weights


def _train(options: CompileOptions, runs: int = 4, dtype=np.float64):
    sess, fetches, feed, weights = _rnn(options, dtype=dtype)
    losses = [float(sess.run(fetches, feed)[0]) for _ in range(runs)]
    program = list(sess._cache.values())[-1].program
    return losses, sess.run(weights), program


@pytest.fixture(params=["mkl", "numpy's fallbacks"])
def library(request, monkeypatch):
    """MKL where installed, and the same plans with MKL made absent (every provider call
    then falls back to numpy: the path of a machine without the mkl wheel)."""
    if request.param == "mkl":
        if blas.MKL not in blas.available():
            pytest.skip("needs the mkl wheel (pip install tapeflow[mkl])")
    else:
        monkeypatch.setattr(blas, "_mkl", lambda: None)
    return request.param


def test_the_step_writes_over_its_row_and_the_sums_go_into_the_gemms(library):
    losses, weights, program = _train(CompileOptions(blas="mkl"))
    ref_losses, ref_weights, ref = _train(CompileOptions())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
    for w, w_ref in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(w, w_ref, rtol=1e-11, atol=1e-13)
    graph, steps = program.graph, {s.node_id: s for s in program.plan.steps}
    addmms = [n for n in graph.nodes if n.op == "addmm"]
    over_rows = [n for n in addmms if graph[n.inputs[0]].op == "getitem"]
    # 19 recurrences (h0 @ w_hh is dropped), each over its row of a block, in place
    assert len(over_rows) == 19
    assert all(steps[n.id].where == "inplace" for n in over_rows)
    # the weight gradients summed into one buffer per weight, block after block
    assert any(graph[n.inputs[0]].op in ("matmul", "addmm") for n in addmms)
    # the bias gradients' row sums are products with a row of ones; numpy's plan has none
    assert not any(n.op == "sum" and len(graph[n.inputs[0]].shape) == 3 for n in graph.nodes)
    assert not any(n.op == "addmm" for n in ref.graph.nodes)
    # no step reads b_hh any more: it joined each block's bias once (and its update reads it)
    b_hh = next(n.id for n in graph.nodes if n.kind == "variable" and n.name == "b_hh")
    readers = [graph[u] for u in graph.users()[b_hh]]
    assert sorted(n.op or n.kind for n in readers) == ["add", "assign", "sub"]
    assert all(n.shape == (8,) for n in readers)


def test_float32_agrees_within_its_rounding(library):
    losses, weights, _ = _train(CompileOptions(blas="mkl"), dtype=np.float32)
    ref_losses, ref_weights, _ = _train(CompileOptions(), dtype=np.float32)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for w, w_ref in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-6)


def test_exact_mode_makes_no_addmm_and_keeps_its_bits():
    losses, weights, program = _train(CompileOptions(blas="mkl", exact=True))
    ref_losses, ref_weights, _ = _train(CompileOptions(exact=True))
    assert not any(n.op == "addmm" for n in program.graph.nodes)
    assert losses == ref_losses
    for w, w_ref in zip(weights, ref_weights, strict=True):
        assert np.array_equal(w, w_ref)


def test_numpys_provider_and_the_switch_leave_the_graph_alone():
    for options in (CompileOptions(), CompileOptions(blas="mkl", gemm_acc=False)):
        _, _, program = _train(options, runs=1)
        assert not any(n.op == "addmm" for n in program.graph.nodes)


def _sum_graph(read_addend_twice: bool) -> Graph:
    """exp(x) + a @ w, the sum fetched (and the addend too, when read twice)."""
    b = GraphBuilder()
    x, a = b.placeholder((4, 5), f64, name="x"), b.placeholder((4, 5), f64, name="a")
    w = b.placeholder((5, 5), f64, name="w")
    addend = b.call("exp", x)
    total = b.call("add", addend, b.call("matmul", a, w))
    return b.graph(total, addend) if read_addend_twice else b.graph(total)


@pytest.mark.parametrize("read_twice", [False, True])
def test_an_addend_read_elsewhere_is_not_summed_into(read_twice):
    graph, changed = gemm_acc(_sum_graph(read_twice), "mkl")
    ops = [n.op for n in graph.nodes]
    assert changed is not read_twice and ("addmm" in ops) is not read_twice
    assert ("matmul" in ops) is read_twice


@pytest.mark.parametrize("mkl_seconds, summed", [(1.5, True), (3.0, False)])
def test_a_product_numpy_was_chosen_for_goes_to_mkl_where_summing_pays(
        monkeypatch, mkl_seconds, summed):
    # numpy's matmul 1 s, the add 1 s: MKL summing into the addend pays up to 2 s
    monkeypatch.setattr(blas, "available", lambda: (blas.NUMPY, blas.MKL))
    monkeypatch.setattr(gemm_acc_module, "autotune", lambda graph, setting: {
        n.id: blas.NUMPY for n in graph.nodes if n.op == "matmul"})
    monkeypatch.setattr(blas, "timings", lambda a, b: {"numpy": 1.0, "mkl": mkl_seconds})
    monkeypatch.setattr(gemm_acc_module, "_add_seconds", lambda out: 1.0)
    graph, changed = gemm_acc(_sum_graph(False), "auto")
    assert changed is summed and any(n.op == "addmm" for n in graph.nodes) is summed
    assert gemm_acc(_sum_graph(False), "numpy")[1] is False  # (only auto weighs the add)


def test_gemm_add_and_the_addmm_kernel_are_numpys_sum(monkeypatch):
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    reference = np.add(c, a @ b)
    assert np.array_equal(get("addmm").kernel(np, c, a, b), reference)
    assert np.array_equal(get("addmm").kernel(np, c[0], a, b), np.add(c[0], a @ b))
    out = c.copy()
    assert np.array_equal(blas.gemm_add(a, b, out, blas.NUMPY), reference)
    monkeypatch.setattr(blas, "_mkl", lambda: None)
    out = c.copy()
    assert np.array_equal(blas.gemm_add(a, b, out, blas.MKL), reference)  # numpy's fallback
    with pytest.raises(ValueError, match="addmm: the addend's shape"):
        get("addmm").infer(Spec((3, 4), f64), Spec((3, 4), f64), Spec((4, 5), f64))


def test_gemm_add_with_mkl_sums_into_out():
    if blas.MKL not in blas.available():
        pytest.skip("needs the mkl wheel (pip install tapeflow[mkl])")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 7)), rng.normal(size=(7, 5))
    out = rng.normal(size=(6, 5))
    expected = out + a @ b
    np.testing.assert_allclose(blas.gemm_add(a, b.T.copy().T, out, blas.MKL), expected,
                               rtol=1e-13)


def test_a_bias_fold_needs_every_row_to_take_the_same_bias():
    empty = Graph((), ())
    assert fold_row_bias(empty) is empty
    # (the RNN above folds; a block whose rows take different biases keeps them)
    sess, fetches, feed, _ = _rnn(CompileOptions(blas="mkl"))
    sess.run(fetches, feed)
    graph = list(sess._cache.values())[-1].program.graph
    assert fold_row_bias(graph) is graph  # nothing left to fold
