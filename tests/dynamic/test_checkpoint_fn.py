"""torch.utils.checkpoint: same gradients bit for bit, dropout replayed, PyTorch's misuse
warnings and errors, and less memory held."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic.utils.checkpoint import checkpoint, checkpoint_sequential

F = torch.nn.functional


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 8)) * 0.5, rng.standard_normal((4, 8))


def _run(ck: bool, p: float = 0.3, segments: int = 4, steps: int = 5) -> list[np.ndarray]:
    w0, x0 = _weights()
    w = torch.tensor(w0, requires_grad=True)
    x = torch.tensor(x0, requires_grad=True)

    def block(h):
        for _ in range(steps):
            h = F.dropout(torch.tanh(h @ w), p)
        return h

    torch.manual_seed(1)
    h = x
    for _ in range(segments):
        h = checkpoint(block, h, use_reentrant=False) if ck else block(h)
    (h * h).sum().backward()
    return [h.detach().numpy().copy(), w.grad.numpy().copy(), x.grad.numpy().copy()]


def test_gradients_bit_for_bit_with_dropout_replayed():
    plain, ck = _run(False), _run(True)
    for a, b in zip(plain, ck, strict=True):
        assert np.array_equal(a, b)
    assert np.abs(plain[1]).sum() > 0


def test_without_rng_replay_the_masks_differ():
    w0, x0 = _weights()
    grads = []
    for ck in (False, True):
        w = torch.tensor(w0, requires_grad=True)
        torch.manual_seed(3)
        fn = lambda h: F.dropout(h @ w, 0.5)  # noqa: E731
        y = checkpoint(fn, torch.tensor(x0), use_reentrant=False,
                       preserve_rng_state=False) if ck else fn(torch.tensor(x0))
        y.sum().backward()
        grads.append(w.grad.numpy().copy())
    assert not np.array_equal(grads[0], grads[1])  # the re-run drew other masks


def test_multiple_outputs_and_autograd_grad():
    w0, x0 = _weights()
    w = torch.tensor(w0, requires_grad=True)
    x = torch.tensor(x0, requires_grad=True)

    def two(h):
        a = torch.tanh(h @ w)
        return a, (a * h).sigmoid()

    a, b = two(x)
    plain = torch.autograd.grad((a.sum() + b.sum(),), (w, x))
    a, b = checkpoint(two, x, use_reentrant=False)
    ck = torch.autograd.grad((a.sum() + b.sum(),), (w, x))
    for p, c in zip(plain, ck, strict=True):
        assert np.array_equal(p.numpy(), c.numpy())


def test_matches_pytorch():
    tt = pytest.importorskip("torch")
    w0, x0 = _weights()
    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8),
                              torch.nn.Tanh(), torch.nn.Linear(8, 3))
    ref = tt.nn.Sequential(tt.nn.Linear(8, 8), tt.nn.Tanh(), tt.nn.Linear(8, 8), tt.nn.Tanh(),
                           tt.nn.Linear(8, 3)).double()
    for mine, theirs in zip(net.parameters(), ref.parameters(), strict=True):
        theirs.data = tt.tensor(mine.detach().numpy().astype(np.float64))
    net = net.double()
    x = torch.tensor(x0, requires_grad=True)
    xt = tt.tensor(x0, requires_grad=True)
    checkpoint_sequential(net, 2, x, use_reentrant=False).pow(2).sum().backward()
    tt.utils.checkpoint.checkpoint_sequential(ref, 2, xt, use_reentrant=False).pow(2).sum() \
        .backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    for mine, theirs in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_use_reentrant_left_out_warns_as_pytorch():
    x = torch.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
        checkpoint(torch.tanh, x)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
        checkpoint_sequential([torch.tanh, torch.tanh], 1, x)


def test_misuse_errors_and_warnings():
    x = torch.ones(2)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(torch.tanh, x, use_reentrant=True)
    assert not y.requires_grad
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(torch.tanh, x, use_reentrant=True, scale=2)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: extra"):
        checkpoint_sequential([torch.tanh], 1, x, use_reentrant=False, extra=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = checkpoint(lambda t, scale: t * scale, torch.ones(2, requires_grad=True),
                       use_reentrant=False, scale=3.0)
    z.sum().backward()


def test_retain_graph_backs_up_twice():
    x = torch.ones(3, requires_grad=True)
    y = checkpoint(lambda t: (t * t).tanh() * t, x, use_reentrant=False)
    y.sum().backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)


def test_second_backward_without_retain_graph_raises():
    x = torch.ones(3, requires_grad=True)
    h = x
    for _ in range(3):
        h = checkpoint(lambda t: (t * t).tanh() * t, h, use_reentrant=False)
    h.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second"):
        h.sum().backward()


def _peak(ck: bool, steps: int = 60) -> int:
    w = torch.randn(64, 64, requires_grad=True)
    x = torch.randn(32, 64)

    def block(h):
        for _ in range(10):
            h = torch.tanh(h @ w)
        return h

    tracemalloc.start()
    h = x
    for _ in range(steps // 10):
        h = checkpoint(block, h, use_reentrant=False) if ck else block(h)
    h.sum().backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_checkpointing_holds_less_memory():
    assert _peak(True) < 0.6 * _peak(False)
