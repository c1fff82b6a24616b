"""torch.backends.blas: this thread's GEMM library for matmuls, forward and backward; passed
by the dispatch to the kernel (no kernel reads a switch); numpy's unless a thread asks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import blas


@pytest.fixture
def provider():
    """Sets this thread's provider for one test and puts the previous one back."""
    previous = []

    def set_to(name):
        previous.append(torch.backends.blas.set_provider(name))

    yield set_to
    if previous:
        torch.backends.blas.set_provider(previous[0])


def _step():
    """Loss and gradients of a two-matmul model (a transposed product in the backward)."""
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((4, 3)))
    w = torch.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    u = torch.tensor(rng.standard_normal((5, 5)), requires_grad=True)
    loss = (torch.tanh(x @ w) @ u).pow(2).sum()
    loss.backward()
    return loss.item(), w.grad.numpy().copy(), u.grad.numpy().copy()


def test_the_setting_is_per_thread(provider):
    provider("mkl")
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.backends.blas.get_provider()))
    t.start()
    t.join()
    assert seen == ["numpy"] and torch.backends.blas.get_provider() == "mkl"


def test_unknown_provider_is_named(provider):
    with pytest.raises(blas.UnknownProviderError, match="'openblas'"):
        torch.backends.blas.set_provider("openblas")
    assert torch.backends.blas.get_provider() == "numpy"


def test_the_chosen_provider_runs_forward_and_backward_matmuls(provider, monkeypatch):
    asked = []  # every product handed to MKL (which declines here, so numpy's runs)
    monkeypatch.setattr(blas, "_mkl_gemm",
                        lambda a, b, out: asked.append((a.shape, b.shape)) and False)
    plain = _step()
    assert asked == []
    provider("mkl")
    handed = _step()
    # forward x @ w, h @ u; backward g @ u.T, h.T @ g, g_h @ w... (x needs no gradient)
    assert ((4, 3), (3, 5)) in asked and ((5, 4), (4, 5)) in asked and len(asked) >= 5
    for a, b in zip(plain, handed, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif("mkl" not in blas.available(), reason="MKL is not installed")
@pytest.mark.parametrize("name", ["mkl", "auto"])
def test_mkl_and_auto_agree_with_numpy_to_rounding(provider, name):
    plain = _step()
    provider(name)
    for a, b in zip(plain, _step(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_docstring_examples_run():
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("tapeflow.dynamic.backends"))
    assert result.failed == 0 and result.attempted > 0
