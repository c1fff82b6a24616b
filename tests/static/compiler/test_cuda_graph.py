"""CUDA-graph replay (static/compiler/cuda_graph.py), its logic checked on the CPU.

Without a GPU the capture is emulated: a fake ``cupy`` whose captured graph, when launched,
reruns the schedule on the fixed input buffers and writes into the arrays the capture
returned -- what a real replay does to those addresses. That is enough to check what the
wrapper owns: inputs copied in every step, results copied out (never the captured
buffers), the plain run first, falling back with a reason, and shapes that no longer fit.
The real capture runs in tests/dynamic/test_gpu.py and benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from builders import GraphBuilder
from tapeflow.graphs import Graph
from tapeflow.runtime import Generator, R, dtypes
from tapeflow.static.compiler.cuda_gemm import OP_N, capture_matmul
from tapeflow.static.compiler.cuda_graph import (
    PLAIN,
    REPLAY,
    GraphReplay,
    replay_blocker,
    with_cuda_graph,
)
from tapeflow.static.compiler.executor import Executor

f64 = dtypes.float64


class FakeCuda:
    """The parts of cupy the wrapper calls, on numpy; see the module docstring."""

    ndarray = np.ndarray
    matmul = np.matmul
    copyto = staticmethod(np.copyto)
    empty_like = staticmethod(np.empty_like)
    asarray = staticmethod(np.asarray)

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail, self.replay, self.captures, self.launches = fail, None, 0, 0
        api = self

        class Stream:
            ptr = 0

            def __init__(self, non_blocking: bool = False) -> None:
                pass

            def synchronize(self) -> None:
                pass

            def __enter__(self) -> Stream:
                return self

            def __exit__(self, *exc: Any) -> None:
                pass

            def begin_capture(self) -> None:
                api.captures += 1
                if api.fail is not None:
                    raise api.fail

            def end_capture(self) -> Any:
                return SimpleNamespace(launch=api.launch)

        self.cuda = SimpleNamespace(Stream=Stream, MemoryPool=lambda: SimpleNamespace(malloc=None),
                                    using_allocator=lambda malloc: contextlib.nullcontext(),
                                    Device=lambda: SimpleNamespace(synchronize=lambda: None))
        self.blas = SimpleNamespace(create=lambda stream_ptr: 7, gemm=lambda dtype: self.gemm)
        self.gemms = 0

    def gemm(self, handle: int, transa: int, transb: int, m: int, n: int, k: int,
             alpha: float, A: Any, lda: int, B: Any, ldb: int, beta: float, C: Any,
             ldc: int) -> None:
        """gemm(handle, transa, transb, m, n, k, double alpha, A, lda, B, ldb, double beta, C, ldc)

        cuBLAS's column-major GEMM on numpy arrays (each read from its first element with the
        leading dimension given), as cupy's binding does on device pointers."""
        assert handle == 7
        self.gemms += 1
        op_a = column_major(A, (m, k) if transa == OP_N else (k, m), lda)
        op_b = column_major(B, (k, n) if transb == OP_N else (n, k), ldb)
        c = column_major(C, (m, n), ldc)
        c[...] = alpha * ((op_a if transa == OP_N else op_a.T) @
                          (op_b if transb == OP_N else op_b.T))

    def launch(self) -> None:
        self.launches += 1
        r = self.replay
        values, updates = r.executor.run(r._feeds, r._variables)
        for captured, new in zip(r._values, values, strict=True):
            if captured is not None:
                captured[...] = new
        for key, captured in r._updates.items():
            captured[...] = updates[key]
        for key in r._written_back:  # the copies the capture recorded at the end
            r._variables[key][...] = r._updates[key]


def column_major(x: np.ndarray, shape: tuple[int, int], ld: int) -> np.ndarray:
    item = x.itemsize
    return np.lib.stride_tricks.as_strided(x, shape, (item, ld * item))


def regression_graph() -> tuple[Graph, dict[str, Any]]:
    """Least squares on a (4, 2) batch, one SGD step per run."""
    b = GraphBuilder()
    x, y = b.placeholder((4, 2), f64, "x"), b.placeholder((4, 1), f64, "y")
    w = b.variable((2, 1), f64, "w")
    err = R.sub(R.matmul(x, w), y)
    loss = R.mean(R.mul(err, err))
    (grad,) = b.gradients(loss, [w])
    update = b.assign(w, R.sub(w, R.mul(grad, b.const(np.float64(0.1)))))
    return b.graph(loss, update), {"x": x.id, "y": y.id, "w": w.id}


def train(executor: Any, steps: int, h: dict[str, Any], batches: list[Any]) -> list[Any]:
    variables = {h["w"]: np.zeros((2, 1))}
    seen = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        values, updates = executor.run({h["x"]: x, h["y"]: y}, variables)
        seen.append((values[0], updates[h["w"]]))
        variables = {**variables, **updates}
    return seen


def batches() -> list[Any]:
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(4, 2)), rng.normal(size=(4, 1))) for _ in range(3)]


def test_replay_matches_the_plain_schedule_step_for_step() -> None:
    g, h = regression_graph()
    plain = train(Executor(g), 6, h, batches())
    api = FakeCuda()
    plan = SimpleNamespace()
    replay = api.replay = GraphReplay(Executor(g), plan, api, api.blas)
    replayed = train(replay, 6, h, batches())
    assert (api.captures, api.launches, replay.replays) == (1, 5, 5)  # first run plain
    assert api.gemms > 0  # the capture's products went through the recordable GEMM
    assert replay.executor.xp is np  # and the executor got its own module back
    assert replay.execution == REPLAY and replay.reason is None and plan.execution == REPLAY
    for (loss_a, w_a), (loss_b, w_b) in zip(plain, replayed, strict=True):
        np.testing.assert_array_equal(loss_a, loss_b)  # new feeds each step were copied in
        np.testing.assert_array_equal(w_a, w_b)  # and the variable's new value too
    # every step's results are arrays of their own: later replays did not overwrite them
    assert len({id(w) for _, w in replayed}) == 6
    assert not any(np.shares_memory(w, c) for _, w in replayed for c in replay._updates.values())


def test_a_failed_capture_runs_the_plain_schedule_and_says_why() -> None:
    g, h = regression_graph()
    api = FakeCuda(fail=RuntimeError("cudaErrorStreamCaptureUnsupported: operation not\n"
                                     "permitted when stream is capturing"))
    plan = SimpleNamespace()
    replay = api.replay = GraphReplay(Executor(g), plan, api, api.blas)
    seen = train(replay, 3, h, batches())
    expected = train(Executor(g), 3, h, batches())
    np.testing.assert_array_equal(seen[-1][1], expected[-1][1])
    assert replay.execution == PLAIN and api.launches == 0
    assert replay.reason.startswith("the capture failed: RuntimeError: cudaErrorStream")
    assert "permitted when stream" in plan.execution
    assert replay.run == replay.executor.run  # no wrapper left on the hot path


def test_inputs_that_no_longer_fit_the_buffers_run_plain() -> None:
    g, h = regression_graph()
    api = FakeCuda()
    replay = api.replay = GraphReplay(Executor(g), None, api, api.blas)
    train(replay, 2, h, batches())
    assert replay.replays == 1
    x, y = batches()[0]
    replay.run({h["x"]: x, h["y"]: y}, {h["w"]: np.zeros((2, 1), np.float32)})  # new dtype
    assert replay.replays == 1 and replay.execution == REPLAY  # plain once, graph kept


def test_what_blocks_a_replay_is_named() -> None:
    g, _ = regression_graph()
    cupy_like = FakeCuda()
    assert replay_blocker(g, "gpu", True, cupy_like) is None
    assert "switched off" in replay_blocker(g, "gpu", False, cupy_like)
    assert "device 'cpu'" in replay_blocker(g, "cpu", True, cupy_like)
    assert "no stream capture" in replay_blocker(g, "gpu", True, SimpleNamespace())
    b = GraphBuilder()
    x = b.placeholder((3,), f64, "x")
    noise = b.call("random_uniform_like", x, generator=Generator(0))
    random_graph = b.graph(R.add(x, noise))
    assert "draws on the host" in replay_blocker(random_graph, "gpu", True, cupy_like)
    b = GraphBuilder()
    x = b.placeholder((3,), f64, "x")
    masked = b.call("mask_select", x, b.call("gt", x, b.const(np.float64(0))))
    reason = replay_blocker(b.graph(masked), "gpu", True, cupy_like)
    assert "known only at run time" in reason


def test_a_cpu_executor_is_left_as_it_is_and_the_plan_says_why() -> None:
    g, _ = regression_graph()
    executor = Executor(g)
    plan = SimpleNamespace()
    assert with_cuda_graph(executor, plan, enabled=True) is executor
    assert plan.execution == f"{PLAIN} (device 'cpu': CUDA graphs need the GPU device)"


@pytest.mark.parametrize("steps", [1, 2])
def test_the_first_run_is_always_plain(steps: int) -> None:
    g, h = regression_graph()
    api = FakeCuda()
    replay = api.replay = GraphReplay(Executor(g), None, api, api.blas)
    train(replay, steps, h, batches())
    assert api.captures == 1 and replay.replays == steps - 1


def test_session_plan_says_which_schedule_runs() -> None:
    import tapeflow.static as tf

    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, (None, 2), name="x")
        w = tf.Variable(np.ones((2, 1)), name="w")
        loss = tf.reduce_mean(tf.matmul(x, w))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            plan = sess.plan([loss, train], {x: np.ones((3, 2))})
            assert plan.execution == f"{PLAIN} (device 'cpu': CUDA graphs need the GPU device)"


@pytest.mark.parametrize("layout", ["c", "f", "rows", "vector_left", "vector_right", "empty"])
def test_the_recordable_matmul_passes_cublas_what_it_expects(layout: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    if layout == "f":
        a, b = np.asfortranarray(a), rng.normal(size=(5, 4)).T  # transposed views
    elif layout == "rows":
        a, b = rng.normal(size=(3, 8))[:, ::2], rng.normal(size=(8, 5))[::2]  # strided
    elif layout == "vector_left":
        a = rng.normal(size=4)
    elif layout == "vector_right":
        b = rng.normal(size=4)
    elif layout == "empty":
        a, b = np.zeros((3, 0)), np.zeros((0, 5))
    api = FakeCuda()
    matmul = capture_matmul(np, 7, api.blas.gemm)
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-12)
    out = np.full((a @ b).shape, np.nan)
    assert matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="1-D/2-D"):
        matmul(np.ones((2, 3, 4)), np.ones((4, 2)))


def test_cupys_binding_gets_alpha_and_beta_as_host_pointers() -> None:
    import ctypes

    from tapeflow.static.compiler.cuda_gemm import _scalars

    def dgemm() -> None:
        """dgemm(intptr_t handle, int transa, int transb, int m, int n, int k, size_t alpha,
        size_t A, int lda, size_t B, int ldb, size_t beta, size_t C, int ldc)"""

    one, zero = _scalars(dgemm, np.dtype(np.float64))
    assert ctypes.c_double.from_address(one).value == 1.0
    assert ctypes.c_double.from_address(zero).value == 0.0
    assert _scalars(FakeCuda().gemm, np.dtype(np.float64)) == (1.0, 0.0)


def test_variables_handed_out_by_the_last_replay_are_not_copied_in_again() -> None:
    g, h = regression_graph()
    api = FakeCuda()
    replay = api.replay = GraphReplay(Executor(g), None, api, api.blas)
    loads = []
    load = replay._load
    replay._load = lambda buffer, array: (loads.append(array), load(buffer, array))[-1]
    seen = train(replay, 5, h, batches())
    expected = train(Executor(g), 5, h, batches())
    np.testing.assert_array_equal(seen[-1][1], expected[-1][1])
    handed = [w for _, w in seen[1:-1]]  # the weights replays 1..3 handed out
    assert not any(any(a is w for a in loads) for w in handed)  # fed back without a copy
    # a value that is not the one handed out (another program assigned it) is copied in
    x, y = batches()[0]
    other = np.full((2, 1), 0.5)
    values, _ = replay.run({h["x"]: x, h["y"]: y}, {h["w"]: other})
    assert loads[-1] is other
    expected_loss = np.mean((x @ other - y) ** 2)
    np.testing.assert_allclose(values[0], expected_loss)
