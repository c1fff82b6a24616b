"""cross_entropy of unbatched logits (C,) and a 0-d class, as PyTorch takes them."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_unbatched_logits_are_a_batch_of_one(reduction):
    z = np.array([0.3, -1.0, 2.0, 0.5], np.float32)
    one = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(one, torch.tensor(2), reduction=reduction)
    loss.backward()
    batch = torch.tensor(z[None], requires_grad=True)
    torch.nn.functional.cross_entropy(batch, torch.tensor([2])).backward()
    assert tuple(loss.shape) == ()
    assert loss.item() == pytest.approx(np.log(np.exp(z).sum()) - z[2], rel=1e-6)
    np.testing.assert_array_equal(one.grad.numpy(), batch.grad.numpy()[0])


def test_an_unbatched_class_out_of_range_is_named():
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        torch.nn.functional.cross_entropy(torch.zeros(4), torch.tensor(5))
