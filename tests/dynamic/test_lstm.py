"""``nn.LSTM`` and ``nn.LSTMCell``: PyTorch's equations, gate order and parameter layout.

With PyTorch installed, the same weights give the same outputs, final states and
gradients (multi-layer, batch_first, given initial states); without it, a hand-written
numpy step checks the cell. An LSTM also learns a task that needs its memory.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_the_cell_matches_the_equations() -> None:
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 4).double()
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    h1, c1 = cell(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    p = {name: t.detach().numpy() for name, t in cell.named_parameters()}
    gates = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = np.split(gates, 4, axis=1)
    want_c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(c1.detach().numpy(), want_c, rtol=1e-12)
    np.testing.assert_allclose(h1.detach().numpy(), sigmoid(o) * np.tanh(want_c), rtol=1e-12)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih",
                                                         "bias_hh"]
    assert cell.weight_ih.shape == (16, 3)
    with pytest.raises(RuntimeError, match="inconsistent input_size"):
        cell(torch.zeros(2, 5, dtype=torch.float64))


@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_pytorch_when_installed(batch_first: bool) -> None:
    real = pytest.importorskip("torch")
    real.manual_seed(0)
    theirs = real.nn.LSTM(3, 5, num_layers=2, batch_first=batch_first).double()
    ours = torch.nn.LSTM(3, 5, num_layers=2, batch_first=batch_first).double()
    ours.load_state_dict({k: torch.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 3) if batch_first else (6, 4, 3))
    h0, c0 = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 4, 5))
    t_out, (t_h, t_c) = theirs(real.tensor(x), (real.tensor(h0), real.tensor(c0)))
    o_out, (o_h, o_c) = ours(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    for a, b in ((o_out, t_out), (o_h, t_h), (o_c, t_c)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)
    (t_out.sum() + t_c.sum()).backward()
    (o_out.sum() + o_c.sum()).backward()
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters(),
                                 strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_an_lstm_learns_to_remember_the_first_input() -> None:
    # the label is the sign of the first of 8 inputs; the rest is noise to forget
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 1)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(1, 16, batch_first=True), torch.nn.Linear(16, 2)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.03)
    inputs, labels = torch.tensor(x), torch.tensor(y)
    for _ in range(80):
        opt.zero_grad()
        _, (h, _) = lstm(inputs)
        loss = torch.nn.functional.cross_entropy(head(h[0]), labels)
        loss.backward()
        opt.step()
    _, (h, _) = lstm(inputs)
    accuracy = (head(h[0]).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.95
