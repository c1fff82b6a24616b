"""nn.GRUCell / nn.GRU (layers, bidirectional, batch_first) and nn.LayerNorm /
nn.BatchNorm1d (running statistics, train and eval) against PyTorch 2.13, with the same
weights: outputs, states and every gradient in float64."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as tt

real = pytest.importorskip("torch")


def _pair(make):
    theirs = make(real.nn).double()
    ours = make(tt.nn)
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == [n for n, _ in theirs.named_parameters()]  # names and order
    for name, p in theirs.named_parameters():
        ours_params[name].data = tt.tensor(p.detach().numpy())
        ours_params[name].requires_grad_(True)
    return ours, theirs


def _grads(module):
    return {n: p.grad.numpy() for n, p in module.named_parameters()}


def _compare(ours_out, theirs_out, ours, theirs, x_ours, x_theirs) -> None:
    flat_o = ours_out if isinstance(ours_out, tuple) else (ours_out,)
    flat_t = theirs_out if isinstance(theirs_out, tuple) else (theirs_out,)
    total_o = sum((o * (i + 1.5)).sin().sum() for i, o in enumerate(flat_o))
    total_t = sum((o * (i + 1.5)).sin().sum() for i, o in enumerate(flat_t))
    total_o.backward()
    total_t.backward()
    for o, t in zip(flat_o, flat_t, strict=True):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    for name, g in _grads(theirs).items():
        np.testing.assert_allclose(_grads(ours)[name], g, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-9,
                               atol=1e-12)


rng = np.random.default_rng(5)


def test_gru_cell_matches_pytorch() -> None:
    ours, theirs = _pair(lambda nn: nn.GRUCell(3, 4))
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    xo, xt = tt.tensor(x, requires_grad=True), real.tensor(x, requires_grad=True)
    _compare(ours(xo, tt.tensor(h)), theirs(xt, real.tensor(h)), ours, theirs, xo, xt)


@pytest.mark.parametrize("kwargs", [
    {}, {"num_layers": 2}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True,
                                                     "batch_first": True},
    {"bias": False, "num_layers": 2},
])
def test_gru_matches_pytorch(kwargs) -> None:
    ours, theirs = _pair(lambda nn: nn.GRU(3, 4, **kwargs))
    shape = (2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3)
    x = rng.standard_normal(shape)
    h0 = rng.standard_normal((kwargs.get("num_layers", 1)
                              * (2 if kwargs.get("bidirectional") else 1), 2, 4))
    xo, xt = tt.tensor(x, requires_grad=True), real.tensor(x, requires_grad=True)
    _compare(ours(xo, tt.tensor(h0)), theirs(xt, real.tensor(h0)), ours, theirs, xo, xt)


def test_gru_dropout_between_layers_only_in_training() -> None:
    gru = tt.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = tt.randn(6, 2, 3)
    gru.eval()
    a, b = gru(x)[0], gru(x)[0]
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    gru.train()
    assert not np.allclose(gru(x)[0].detach().numpy(), a.detach().numpy())
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        tt.nn.GRU(3, 4, dropout=1.5)
    assert "bidirectional=True" in repr(tt.nn.GRU(3, 4, bidirectional=True))


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6), ((3, 6))])
def test_layer_norm_matches_pytorch(shape) -> None:
    normalized = (3, 6) if shape == (3, 6) else (6,)
    ours, theirs = _pair(lambda nn: nn.LayerNorm(normalized))
    with real.no_grad():
        for p in theirs.parameters():
            p.add_(real.tensor(rng.standard_normal(tuple(p.shape))))
    for name, p in theirs.named_parameters():
        getattr(ours, name).data = tt.tensor(p.detach().numpy())
    x = rng.standard_normal(shape)
    xo, xt = tt.tensor(x, requires_grad=True), real.tensor(x, requires_grad=True)
    _compare(ours(xo), theirs(xt), ours, theirs, xo, xt)


@pytest.mark.parametrize(("shape", "kwargs"), [((8, 3), {}), ((4, 3, 5), {}),
                                               ((8, 3), {"momentum": None}),
                                               ((8, 3), {"affine": False})])
def test_batch_norm_matches_pytorch_in_train_and_eval(shape, kwargs) -> None:
    ours, theirs = _pair(lambda nn: nn.BatchNorm1d(3, **kwargs))
    theirs.double()
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        xo, xt = tt.tensor(x, requires_grad=True), real.tensor(x, requires_grad=True)
        _compare(ours(xo), theirs(xt), ours, theirs, xo, xt)
        ours.zero_grad()
        theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-6)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(tt.tensor(x)).detach().numpy(),
                               theirs(real.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-7)
    assert "running_mean" in ours.state_dict()


@pytest.mark.parametrize(("cls", "kwargs"), [
    ("LSTM", {"bidirectional": True}), ("LSTM", {"num_layers": 2, "bidirectional": True,
                                                 "batch_first": True}),
    ("RNN", {"bidirectional": True, "num_layers": 2}),
    ("RNN", {"nonlinearity": "relu", "bidirectional": True}),
])
def test_bidirectional_rnn_and_lstm_match_pytorch(cls, kwargs) -> None:
    ours, theirs = _pair(lambda nn: getattr(nn, cls)(3, 4, **kwargs))
    shape = (2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3)
    x = rng.standard_normal(shape)
    xo, xt = tt.tensor(x, requires_grad=True), real.tensor(x, requires_grad=True)
    out_o, state_o = ours(xo)
    out_t, state_t = theirs(xt)
    flat_o = (out_o, *state_o) if cls == "LSTM" else (out_o, state_o)
    flat_t = (out_t, *state_t) if cls == "LSTM" else (out_t, state_t)
    _compare(flat_o, flat_t, ours, theirs, xo, xt)
