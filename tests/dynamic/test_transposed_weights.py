"""The row-major transposes one dynamic backward keeps (runtime/transposes.py): the same
gradient bits with and without them, per thread, closed after every backward, off where
they could change a bit (a shape whose layouts disagree, a GEMM provider, user code)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import blas, ops_nn, transposes

# one-row, odd, small-kernel and large shapes: (batch m, weight rows k, weight columns n)
SHAPES = [(1, 64, 64), (2, 33, 65), (4, 32, 32), (9, 100, 17), (16, 64, 128), (32, 32, 128),
          (32, 128, 128), (32, 129, 128), (33, 128, 129), (64, 512, 64), (64, 256, 256),
          (128, 257, 100)]


def _grads(m: int, k: int, n: int, dtype: str, uses: int = 4) -> bytes:
    """Gradients of an RNN-like chain that reads ``w`` (k x n) ``uses`` times."""
    rng = np.random.default_rng(m * 10_000 + k * 100 + n)
    w = torch.tensor(rng.standard_normal((k, n)).astype(dtype) / np.sqrt(n), requires_grad=True)
    p = torch.tensor(rng.standard_normal((n, k)).astype(dtype) / np.sqrt(k), requires_grad=True)
    h = torch.tensor(rng.standard_normal((m, k)).astype(dtype), requires_grad=True)
    for _ in range(uses):
        h = torch.tanh((h @ w) @ p)  # h @ w: its gradient for h is g @ w.T
    h.sum().backward()
    return w.grad.numpy().tobytes() + p.grad.numpy().tobytes()


def _bits(m: int, k: int, n: int, dtype: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        if not on:
            patch.setattr(transposes, "MIN_ELEMENTS", 10**18)
        return _grads(m, k, n, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gradients_have_the_same_bits_with_and_without_the_copies(
        shape: tuple[int, int, int], dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _bits(*shape, dtype, True, monkeypatch) == _bits(*shape, dtype, False, monkeypatch)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_a_shape_is_used_only_where_both_layouts_gave_the_same_bytes(
        shape: tuple[int, int, int], dtype: str) -> None:
    m, k, n = shape
    rng = np.random.default_rng(1)
    g = rng.standard_normal((m, n)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    held = transposes.open_table()
    try:
        assert transposes.transposed(g, w) is None  # the first read only notes w
        copy = transposes.transposed(g, w)
    finally:
        transposes.close_table(held)
    agree = (g @ w.T).tobytes() == (g @ np.ascontiguousarray(w.T)).tobytes()
    if copy is None:
        assert not transposes._AGREES[(m, k, n, np.dtype(dtype).char)]
    else:
        assert agree and copy.flags.c_contiguous and np.array_equal(copy, w.T)
        assert (g @ copy).tobytes() == (g @ w.T).tobytes()


def test_a_shape_whose_layouts_disagree_keeps_the_transposed_product(
        monkeypatch: pytest.MonkeyPatch) -> None:
    g, w = np.ones((8, 64), np.float32), np.ones((64, 64), np.float32)
    monkeypatch.setitem(transposes._AGREES, (8, 64, 64, "f"), False)
    held = transposes.open_table()
    try:
        assert [transposes.transposed(g, w) for _ in range(3)] == [None] * 3
    finally:
        transposes.close_table(held)


@pytest.fixture
def agreeing(monkeypatch: pytest.MonkeyPatch) -> None:
    """(8, 64) @ (64, 64).T in float64 taken as agreeing: the tests of the table's workings
    do not depend on this machine's kernels (the probe has tests of its own above)."""
    monkeypatch.setitem(transposes._AGREES, (8, 64, 64, "d"), True)


@pytest.mark.usefixtures("agreeing")
def test_the_weight_is_copied_from_its_second_read_and_only_while_a_table_is_open() -> None:
    g, w = np.ones((8, 64)), np.arange(64 * 64.0).reshape(64, 64)
    assert transposes.transposed(g, w) is None and transposes.transposed(g, w) is None
    held = transposes.open_table()
    try:
        assert transposes.transposed(g, w) is None
        first = transposes.transposed(g, w)
        assert first is not None and transposes.transposed(g, w) is first  # made once
        assert transposes.transposed(g, w[:, :32].copy()) is None  # another array: noted
        assert transposes.transposed(g.astype(np.float32), w) is None  # dtypes differ
        small = np.ones((8, 8))
        transposes.transposed(small, small)
        assert transposes.transposed(small, small) is None  # too small to pay
        transposes.forget()
        assert transposes.transposed(g, w) is None  # noted again from scratch
    finally:
        transposes.close_table(held)
    assert transposes._OPEN.table is None


@pytest.mark.usefixtures("agreeing")
def test_a_gemm_provider_keeps_its_own_products(monkeypatch: pytest.MonkeyPatch) -> None:
    g, w = np.ones((8, 64)), np.ones((64, 64))
    held = transposes.open_table()
    try:  # (the shape agrees here: without a provider the second read gets the copy)
        assert [transposes.transposed(g, w) is None for _ in range(2)] == [True, False]
        transposes.forget()
        monkeypatch.setattr(blas.RAW, "provider", "mkl")
        assert [transposes.transposed(g, w) for _ in range(3)] == [None] * 3
    finally:
        transposes.close_table(held)


@pytest.mark.usefixtures("agreeing")
def test_another_thread_sees_no_table() -> None:
    g, w = np.ones((8, 64)), np.ones((64, 64))
    seen: list[object] = []
    held = transposes.open_table()
    try:
        transposes.transposed(g, w)
        worker = threading.Thread(target=lambda: seen.extend(
            [transposes._OPEN.table, transposes.transposed(g, w), transposes.transposed(g, w)]))
        worker.start()
        worker.join()
        assert transposes.transposed(g, w) is not None
    finally:
        transposes.close_table(held)
    assert seen == [None, None, None]


def test_the_table_is_closed_after_a_backward_and_after_a_failed_one() -> None:
    _grads(32, 128, 128, "float32")
    assert transposes._OPEN.table is None
    w = torch.randn(64, 64, requires_grad=True)
    h = torch.randn(8, 64, requires_grad=True)
    for _ in range(3):
        h = torch.tanh(h @ w)

    def fail(grad: object) -> object:
        raise ValueError("hook failed")

    h.register_hook(fail)
    with pytest.raises(ValueError, match="hook failed"):
        h.sum().backward()
    assert transposes._OPEN.table is None


def test_a_weight_changed_in_place_before_backward_still_raises() -> None:
    w = torch.randn(64, 64, requires_grad=True)
    h = torch.randn(8, 64, requires_grad=True)
    out = torch.tanh(torch.tanh(h @ w) @ w)
    with torch.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_user_code_in_the_sweep_drops_the_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    # a hook writes w's array behind the version counter (as .data does in PyTorch) and runs
    # a nested backward halfway through the sweep: every copy used is w.T as it is then
    monkeypatch.setitem(transposes._AGREES, (16, 64, 64, "d"), True)  # (whatever the BLAS)
    used: list[tuple[bool, bool]] = []  # (after the hook, the copy equals w.T now)
    hooked: list[bool] = []

    real = transposes.transposed

    def spy(g: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        copy = real(g, b)
        if copy is not None:
            used.append((bool(hooked), bool(np.array_equal(copy, b.T))))
        return copy

    monkeypatch.setattr(ops_nn.transposes, "transposed", spy)
    rng = np.random.default_rng(5)
    w = torch.tensor(rng.standard_normal((64, 64)) / 8, requires_grad=True)
    h = torch.tensor(rng.standard_normal((16, 64)), requires_grad=True)
    for t in range(6):
        h = torch.tanh(h @ w)
        if t == 2:
            def hook(grad: object) -> None:
                outer = transposes._OPEN.table
                w.detach().numpy()[...] *= 0.5
                with torch.enable_grad():  # (the sweep runs hooks with grad mode off)
                    other = torch.randn(8, 64, requires_grad=True)
                    (other @ torch.tensor(np.ones((64, 64)))).sum().backward()
                hooked.append(transposes._OPEN.table is outer is not None)

            h.register_hook(hook)
    h.sum().backward()
    assert hooked == [True]  # the nested backward put the outer table back
    assert (False, True) in used and (True, True) in used
    assert all(fresh for _, fresh in used)


def _train(seed: int, steps: int) -> bytes:
    rng = np.random.default_rng(seed)
    w = torch.tensor(rng.standard_normal((64, 64)) / 8, requires_grad=True)
    x = torch.tensor(rng.standard_normal((16, 64)))
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        h = x
        for _ in range(5):
            h = torch.tanh(h @ w)
        (h * h).sum().backward()
        opt.step()
    return w.detach().numpy().tobytes()


def test_threads_training_their_own_weights_match_a_serial_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(transposes._AGREES, (16, 64, 64, "d"), True)  # copies in use
    serial = [_train(seed, 10) for seed in range(4)]
    results: dict[int, bytes] = {}
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # thread switches every microsecond: races show up
    try:
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _train(i, 10)))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60.0)
    finally:
        sys.setswitchinterval(previous)
    assert [results.get(i) for i in range(4)] == serial
