"""An optimizer step that cannot finish fails before it writes any parameter."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.SGD(ps, lr=0.5),
    lambda ps: torch.optim.SGD(ps, lr=0.5, momentum=0.9),
    lambda ps: torch.optim.Adam(ps, lr=0.1),
    lambda ps: torch.optim.RMSprop(ps, lr=0.1),
])
def test_a_read_only_parameter_fails_the_step_before_any_write(make) -> None:
    frozen = np.ones(3, np.float32)
    frozen.flags.writeable = False
    a = torch.ones(3, requires_grad=True)
    b = torch.from_numpy(frozen).requires_grad_()
    for p in (a, b):
        p.grad = torch.full((3,), 2.0)
    with pytest.raises(RuntimeError, match=r"parameter 1 of group 0 \(shape \[3\]\) is a "
                                           r"read-only array.*No parameter was updated"):
        make([a, b]).step()
    assert a.tolist() == [1.0, 1.0, 1.0] and b.tolist() == [1.0, 1.0, 1.0]


def _adam_state() -> tuple[object, dict]:
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([w], lr=0.1)
    (w * 2).sum().backward()
    opt.step()
    return opt, opt.state_dict()


def test_a_0d_moment_buffer_is_refused_at_load() -> None:
    opt, saved = _adam_state()
    saved["state"][0]["exp_avg"] = torch.tensor(0.0)
    with pytest.raises(ValueError, match="'exp_avg' buffer of shape \\[\\] for a parameter "
                                         "of shape \\[3\\]"):
        opt.load_state_dict(saved)


def test_a_0d_step_count_loads() -> None:
    opt, saved = _adam_state()
    saved["state"][0]["step"] = torch.tensor(1.0)  # (PyTorch saves the count as a tensor)
    opt.load_state_dict(saved)
    opt.step()
    assert float(next(iter(opt.state.values()))["step"]) == 2.0
