"""``torch.zeros`` with one or two int sizes skips the general creation path; it must give
what ``full(size, 0)`` gives, and leave every other call (and every error) to that path."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch


@pytest.mark.parametrize("size", [(3,), (2, 5), (0, 4)])
@pytest.mark.parametrize("dtype", [None, torch.float32, torch.float64, torch.int64, torch.bool])
def test_fast_zeros_match_full(size, dtype):
    got = torch.zeros(*size, dtype=dtype)
    general = torch.full(size, 0, dtype=dtype or torch.float32)
    assert got.dtype == general.dtype and tuple(got.shape) == size
    assert got.numpy().tobytes() == general.numpy().tobytes()
    assert not got.requires_grad and got.grad_fn is None
    got.numpy().fill(1)  # a fresh, writable array each call
    assert not torch.zeros(*size, dtype=dtype).numpy().any()


def test_other_calls_take_the_general_path():
    assert torch.zeros((2, 3)).shape == (2, 3)
    assert torch.zeros(2, 3, 4).shape == (2, 3, 4)
    assert torch.zeros(np.int64(2), 3).shape == (2, 3)
    assert torch.zeros(2, requires_grad=True).requires_grad
    assert torch.zeros(40000).shape == (40000,)


@pytest.mark.parametrize("size, error", [((-1, 2), RuntimeError), ((True, 2), TypeError),
                                         ((2.0,), TypeError)])
def test_errors_unchanged(size, error):
    with pytest.raises(error):
        torch.zeros(*size)
