"""Optimizer state as PyTorch keeps it: ``state[param]``, ``state_dict()`` numbered by
parameter, ``load_state_dict()`` into another optimizer, through ``torch.save``/``load``.

Resuming from a saved optimizer must continue training exactly as if it never stopped, and
a state dict that does not fit raises before anything changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch

OPTIMIZERS = {
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.05),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def train(net: torch.nn.Module, opt: Any, steps: int) -> list[float]:
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((8, 3)), dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((8, 1)), dtype=torch.float32)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_resuming_from_a_saved_optimizer_continues_exactly(kind: str, tmp_path: Path) -> None:
    straight = model()
    straight_losses = train(straight, OPTIMIZERS[kind](straight.parameters()), 10)

    first = model()
    opt = OPTIMIZERS[kind](first.parameters())
    losses = train(first, opt, 4)
    torch.save({"model": first.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.pt")

    resumed = model(seed=7)  # other initial weights: everything must come from the file
    resumed_opt = OPTIMIZERS[kind](resumed.parameters())
    saved = torch.load(tmp_path / "ckpt.pt")
    resumed.load_state_dict(saved["model"])
    resumed_opt.load_state_dict(saved["optim"])
    losses += train(resumed, resumed_opt, 6)
    assert losses == straight_losses
    for a, b in zip(resumed.parameters(), straight.parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_is_keyed_by_parameter_and_numbered_in_the_dict() -> None:
    net = model()
    opt = torch.optim.Adam([{"params": net[0].parameters()},
                            {"params": net[2].parameters(), "lr": 0.5}], lr=0.1)
    train(net, opt, 1)
    weight = net[0].weight
    assert set(opt.state[weight]) == {"step", "exp_avg", "exp_avg_sq"}
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5] and sorted(sd["state"]) == [0, 1,
                                                                                          2, 3]
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].numpy(),
                                  opt.state[weight]["exp_avg"].numpy())


def test_a_state_dict_that_does_not_fit_changes_nothing() -> None:
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    train(net, opt, 2)
    before = {k: v["momentum_buffer"].numpy().copy() for k, v in opt.state_dict()["state"].items()}
    other = torch.nn.Linear(3, 4)
    small = torch.optim.SGD(other.parameters(), lr=0.3, momentum=0.9)
    train_other = torch.tensor(np.ones((2, 3)), dtype=torch.float32)
    other(train_other).sum().backward()
    small.step()
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(small.state_dict())
    wrong = opt.state_dict()
    wrong["state"][1]["momentum_buffer"] = torch.zeros(7)
    wrong["param_groups"][0]["lr"] = 9.0
    with pytest.raises(ValueError, match=r"'momentum_buffer' buffer of shape \[7\]"):
        opt.load_state_dict(wrong)
    assert opt.param_groups[0]["lr"] == 0.1
    after = opt.state_dict()["state"]
    for k, buffer in before.items():
        np.testing.assert_array_equal(after[k]["momentum_buffer"].numpy(), buffer)


def test_the_layout_matches_pytorch_when_installed() -> None:
    real = pytest.importorskip("torch")
    theirs_net = real.nn.Linear(3, 2)
    theirs = real.optim.Adam(theirs_net.parameters(), lr=0.01)
    theirs_net(real.ones(1, 3)).sum().backward()
    theirs.step()
    ours_net = torch.nn.Linear(3, 2)
    ours = torch.optim.Adam(ours_net.parameters(), lr=0.01)
    ours_net(torch.ones(1, 3)).sum().backward()
    ours.step()
    a, b = theirs.state_dict(), ours.state_dict()
    assert sorted(a) == sorted(b) and sorted(a["state"]) == sorted(b["state"])
    assert a["param_groups"][0]["params"] == b["param_groups"][0]["params"]
    assert set(a["state"][0]) == set(b["state"][0])
