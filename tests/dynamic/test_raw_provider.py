"""The raw backward with a GEMM provider (torch.backends.blas): the gradient rules' products
go to the thread's provider, as in the tensor engine, and the gradients equal the tensor
engine's bit for bit; ``runtime.blas.RAW`` is set only while a rule runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine, thread_state
from tapeflow.runtime import R, blas


@contextlib.contextmanager
def _provider(name: str) -> Iterator[None]:
    previous = torch.backends.blas.set_provider(name)
    try:
        yield
    finally:
        torch.backends.blas.set_provider(previous)


@contextlib.contextmanager
def _tensor_engine() -> Iterator[None]:
    """The tensor engine: a kernel observer makes backward() pass the raw one by."""
    observer = lambda event, what: None  # noqa: E731
    thread_state.add_observer(observer)
    try:
        yield
    finally:
        thread_state.remove_observer(observer)


def _rnn_grads(dtype: type) -> list[np.ndarray]:
    """Gradients of a small Elman RNN (strided x[:, t] products, transposed ones backward)."""
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((4, 6, 5)).astype(dtype))
    w_ih = torch.tensor(rng.standard_normal((5, 7)).astype(dtype), requires_grad=True)
    w_hh = torch.tensor(rng.standard_normal((7, 7)).astype(dtype) * 0.3, requires_grad=True)
    b = torch.tensor(rng.standard_normal(7).astype(dtype), requires_grad=True)
    h = torch.zeros(4, 7, dtype=getattr(torch, np.dtype(dtype).name))
    for t in range(6):
        h = torch.tanh(x[:, t] @ w_ih + h @ w_hh + b)
    (h @ w_hh.t()).pow(2).sum().backward()
    return [p.grad.numpy().copy() for p in (w_ih, w_hh, b)]


def _engines_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The class of the engine of each sweep backward() runs."""
    seen: list[str] = []
    sweep = engine.reverse_sweep
    monkeypatch.setattr(engine, "reverse_sweep",
                        lambda seeds, used: seen.append(type(used).__name__) or sweep(seeds, used))
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rule_products_go_to_the_provider_and_match_the_tensor_engine(
        monkeypatch: pytest.MonkeyPatch, dtype: type) -> None:
    # a stand-in library whose rounding differs from numpy's (a product summed in higher
    # precision), so a product that missed it would show in the bits
    asked = []

    def fake_gemm(a, b, out):  # type: ignore[no-untyped-def]
        asked.append((a.shape, b.shape))
        np.copyto(out, np.matmul(a.astype(np.longdouble), b.astype(np.longdouble)))
        return True

    monkeypatch.setattr(blas, "_mkl_gemm", fake_gemm)
    plain = _rnn_grads(dtype)
    assert asked == []
    seen = _engines_seen(monkeypatch)
    with _provider("mkl"):
        raw = _rnn_grads(dtype)
        step_products = len(asked)
        with _tensor_engine():
            tensor = _rnn_grads(dtype)
    assert seen == ["RawEngine", "_Eager"]
    # forward 13 products; backward 2 for the output's, 1 per x[:, t] @ w_ih (x needs no
    # gradient) and 2 per h @ w_hh but the first (the zero state needs none): 19
    assert step_products == 13 + 19
    assert len(asked) == 2 * step_products
    for a, b in zip(raw, tensor, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(raw, plain, strict=True))


@pytest.mark.skipif("mkl" not in blas.available(), reason="the mkl wheel is not installed")
@pytest.mark.parametrize("name", ["mkl", "auto"])
def test_mkl_and_auto_gradients_equal_the_tensor_engines(name: str) -> None:
    with _provider(name):
        raw = _rnn_grads(np.float32)
        with _tensor_engine():
            tensor = _rnn_grads(np.float32)
    for a, b in zip(raw, tensor, strict=True):
        np.testing.assert_array_equal(a, b)


def test_raw_provider_is_set_only_while_a_rule_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(blas, "_mkl_gemm", lambda a, b, out: False)  # numpy's runs
    x = torch.ones(2, 2, requires_grad=True)
    y = x @ x
    y.register_hook(lambda g: seen.append(blas.RAW.provider))
    with _provider("mkl"):
        y.sum().backward()
        assert blas.RAW.provider is None
        z = x @ x
        z.register_hook(lambda g: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            z.sum().backward()
    assert seen == ["mkl"] and blas.RAW.provider is None  # (a hook runs inside the sweep)


def test_r_matmul_on_arrays_takes_the_raw_provider_per_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []
    monkeypatch.setattr(blas, "_mkl_gemm",
                        lambda a, b, out: asked.append(threading.get_ident()) and False)
    a = np.ones((3, 3))
    R.matmul(a, a)
    assert asked == []
    blas.RAW.provider = "mkl"
    try:
        other = threading.Thread(target=lambda: R.matmul(a, a, transpose_b=True))
        other.start()
        other.join()
        np.testing.assert_array_equal(R.matmul(a, a), a @ a)
    finally:
        blas.RAW.provider = None
    assert asked == [threading.get_ident()]


def test_auto_reuses_a_choice_without_working_out_its_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = np.ones((3, 4)), np.ones((4, 5))
    c, d = np.ones((2, 6)), np.ones((5, 6)).T  # (a transposed right operand)
    monkeypatch.setattr(blas, "_CHOSEN", {blas.key_of(a, b): "numpy", blas.key_of(c, d): "mkl"})
    assert blas.choose(a, b, np.empty((3, 5))) == "numpy"
    assert blas.choose(c, d, np.empty((2, 5))) == "mkl"
    asked = []
    monkeypatch.setattr(blas, "key_of", lambda a, b: 1 / 0)  # (a second look would raise)
    monkeypatch.setattr(blas, "_mkl_gemm", lambda a, b, out: asked.append(b.shape) and False)
    assert blas.product(a, b, None, "auto") is None and asked == []
    assert blas.product(c, d, None, "auto") is None and asked == [(6, 5)]
    monkeypatch.setattr(blas, "_CHOSEN", {})  # a choice forgotten is made again
    with pytest.raises(ZeroDivisionError):
        blas.product(a, b, None, "auto")
