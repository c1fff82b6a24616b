"""tapeflow.dynamic.nn and optim: modules, layers, losses, functional, SGD, Adam, XOR."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.dynamic.nn as nn
import tapeflow.dynamic.nn.functional as F


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_module_registers_parameters_in_order():
    net = TwoLayer()
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Tanh", "Linear"]
    assert len(list(net.modules())) == 4 and net.fc2.bias is None
    assert "(fc1): Linear(in_features=3, out_features=4, bias=True)" in repr(net)
    with pytest.raises(AttributeError):
        _ = net.nothing


def test_linear_layout_and_initialisation():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    bound = 1 / math.sqrt(4)
    assert float(layer.weight.abs().max()) <= bound and float(layer.bias.abs().max()) <= bound
    x = torch.randn(5, 4)
    expected = x.numpy() @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5)
    torch.manual_seed(0)
    assert nn.Linear(4, 3).weight.tolist() == layer.weight.tolist()  # manual_seed resets init
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        layer(torch.ones(2, 5))


def test_zero_grad_train_eval():
    net = TwoLayer()
    net(torch.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(torch.ones(2, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in net.parameters())
    assert net.eval() is net and not net.training and not net.fc1.training
    assert net.train().fc1.training


def test_state_dict_round_trip():
    a, b = TwoLayer(), TwoLayer()
    state = a.state_dict()
    assert list(state) == ["fc1.weight", "fc1.bias", "fc2.weight"]
    b.load_state_dict(state)
    x = torch.randn(2, 3)
    assert a(x).tolist() == b(x).tolist()
    with pytest.raises(RuntimeError, match="Missing key"):
        b.load_state_dict({"fc1.weight": state["fc1.weight"]})
    with pytest.raises(RuntimeError, match="size mismatch"):
        b.load_state_dict({**state, "fc1.bias": torch.zeros(7)})


def test_module_to_dtype():
    net = TwoLayer().double()
    assert all(p.dtype is torch.float64 for p in net.parameters())
    assert net(torch.ones(1, 3, dtype=torch.float64)).dtype is torch.float64
    assert all(p.dtype is torch.float32 for p in net.float().parameters())
    assert all(p.dtype is torch.float64 for p in net.to(torch.float64).parameters())


def test_sequential_and_activations():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[0], nn.Linear) and len(seq[:2]) == 2
    out = seq(torch.ones(5, 2))
    assert out.shape == (5, 1) and float(out.min()) > 0 and float(out.max()) < 1
    x = torch.tensor([-1.0, 2.0])
    assert nn.ReLU()(x).tolist() == [0.0, 2.0] and nn.Tanh()(x).tolist() == x.tanh().tolist()
    assert nn.Sigmoid()(x).tolist() == x.sigmoid().tolist()


def test_embedding():
    torch.manual_seed(1)
    emb = nn.Embedding(10, 3)
    idx = torch.tensor([[1, 2], [1, 9]])
    out = emb(idx)
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == emb.weight[1].tolist()
    out.sum().backward()
    assert emb.weight.grad[1].tolist() == [2.0] * 3 and emb.weight.grad[0].tolist() == [0.0] * 3
    with pytest.raises(RuntimeError, match="indices"):
        emb(torch.tensor([1.0]))


def test_rnn_cell_matches_formula():
    cell = nn.RNNCell(3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    w_ih, w_hh = cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy()
    b = cell.bias_ih.detach().numpy() + cell.bias_hh.detach().numpy()
    expected = np.tanh(x.numpy() @ w_ih.T + h.numpy() @ w_hh.T + b)
    np.testing.assert_allclose(cell(x, h).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert cell(x).shape == (2, 4)


def test_rnn_runs_the_cell_over_time_batch_first():
    rnn = nn.RNN(3, 4, batch_first=True)
    cell = nn.RNNCell(3, 4)
    cell.load_state_dict({"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0,
                          "bias_ih": rnn.bias_ih_l0, "bias_hh": rnn.bias_hh_l0})
    x = torch.randn(2, 5, 3)  # (batch, seq, feature)
    output, h_n = rnn(x)
    assert output.shape == (2, 5, 4) and h_n.shape == (1, 2, 4)
    h = None
    for t in range(5):
        h = cell(x[:, t], h)
    np.testing.assert_allclose(h_n[0].detach().numpy(), h.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(output[:, -1].detach().numpy(), h.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    seq_first, _ = nn.RNN(3, 4, num_layers=2)(torch.randn(7, 2, 3))
    assert seq_first.shape == (7, 2, 4)
    output.sum().backward()
    assert rnn.weight_hh_l0.grad.shape == (4, 4)


def test_losses_and_reductions():
    pred = torch.tensor([[0.5, 1.0], [2.0, -1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    diff = (pred.detach().numpy() - target.numpy()) ** 2
    assert nn.MSELoss()(pred, target).item() == pytest.approx(diff.mean())
    assert nn.MSELoss(reduction="sum")(pred, target).item() == pytest.approx(diff.sum())
    assert nn.MSELoss(reduction="none")(pred, target).shape == (2, 2)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], requires_grad=True)
    labels = torch.tensor([0, 2])
    z = logits.detach().numpy()
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -logp[[0, 1], [0, 2]]
    assert nn.CrossEntropyLoss()(logits, labels).item() == pytest.approx(expected.mean(), rel=1e-5)
    assert F.cross_entropy(logits, labels, reduction="sum").item() == pytest.approx(
        expected.sum(), rel=1e-5)
    assert F.cross_entropy(logits, labels, reduction="none").shape == (2,)
    F.cross_entropy(logits, labels).backward()
    soft = np.exp(logp)
    soft[[0, 1], [0, 2]] -= 1
    np.testing.assert_allclose(logits.grad.numpy(), soft / 2, rtol=1e-5, atol=1e-7)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(logits, torch.tensor([0, 3]))


def test_functional():
    x = torch.tensor([[1.0, -2.0]])
    w, b = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([0.5, 0.0])
    assert F.linear(x, w, b).tolist() == [[-0.5, 2.0]] and F.linear(x, w).tolist() == [[-1.0, 2.0]]
    assert F.relu(x).tolist() == [[1.0, 0.0]] and F.sigmoid(x).tolist() == x.sigmoid().tolist()
    assert F.tanh(x).tolist() == x.tanh().tolist()
    assert F.softmax(x, dim=1).sum().item() == pytest.approx(1.0)
    assert F.log_softmax(x, dim=1).exp().sum().item() == pytest.approx(1.0)
    assert F.mse_loss(x, torch.zeros(1, 2)).item() == 2.5
    assert F.one_hot(torch.tensor([0, 2])).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.one_hot(torch.tensor([1]), num_classes=4).dtype is torch.int64
    assert F.embedding(torch.tensor([1]), w).tolist() == [[2.0, 0.0]]


def test_sgd_plain_momentum_weight_decay():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.8, -1.6], rtol=1e-6)
    q = nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([q], lr=0.1, momentum=0.9, weight_decay=0.5)
    expected, buf = 1.0, None
    for _ in range(3):
        opt.zero_grad()
        (q * 2).sum().backward()
        g = 2 + 0.5 * expected
        buf = g if buf is None else 0.9 * buf + g
        expected -= 0.1 * buf
        opt.step()
    assert q.item() == pytest.approx(expected, rel=1e-6)
    assert q.grad is not None
    opt.zero_grad()
    assert q.grad is None


def test_adam_matches_reference():
    p = nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=0.1)
    x, m, v = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
    for t in range(1, 4):
        opt.zero_grad()
        (p ** 2).sum().backward()
        opt.step()
        g = 2 * x
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-10)


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        torch.optim.SGD([torch.ones(1, requires_grad=True) * 2], lr=0.1)


def test_step_after_save_is_caught_by_versions():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([p], lr=0.1)
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    loss = (p * x).sum()  # saves p for x's gradient
    opt.step()  # no grad yet: nothing changes, no version bump
    (p * 1).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="inplace"):
        loss.backward()


def test_xor_trains_to_correct_predictions():
    torch.manual_seed(0)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    y = F.one_hot(labels, 2).float()
    model = nn.Sequential(nn.Linear(2, 5), nn.Sigmoid(), nn.Linear(5, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.MSELoss()
    first = None
    for _ in range(1500):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < first / 10
    assert model(x).argmax(dim=1).tolist() == labels.tolist()


def test_docstring_examples_run():
    import doctest
    import importlib
    import pkgutil

    core = ["", ".autograd", ".creation", ".device", ".dispatch", ".engine", ".functions",
            ".grad_mode", ".tape", ".optim", ".size", ".storage", ".tensor", ".tensor_convert",
            ".tensor_math", ".tensor_shape"]
    names = [f"tapeflow.dynamic{suffix}" for suffix in core]
    names += [f"tapeflow.dynamic.nn.{m.name}" for m in pkgutil.iter_modules(nn.__path__)]
    attempted = 0
    for name in names:
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted > 50


def test_init_helpers():
    layer = nn.Linear(3, 2)
    nn.init.zeros_(layer.bias)
    nn.init.constant_(layer.weight, 0.5)
    assert layer.bias.tolist() == [0.0, 0.0] and layer.weight.tolist() == [[0.5] * 3] * 2
    nn.init.uniform_(layer.weight, -0.1, 0.1)
    assert float(layer.weight.abs().max()) <= 0.1 and layer.weight.is_leaf
    nn.init.xavier_uniform_(layer.weight)
    nn.init.normal_(layer.bias)
    assert layer.weight.requires_grad and layer.bias.requires_grad
