"""tapeflow.dynamic tensor ops: arithmetic, promotion, reductions, shapes, in-place, errors."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch


def test_arithmetic_with_scalars_and_reflected_operators():
    x = torch.tensor([1.0, 2.0, 4.0])
    assert (x + 1).tolist() == [2.0, 3.0, 5.0] and (1 + x).tolist() == [2.0, 3.0, 5.0]
    assert (x - 1).tolist() == [0.0, 1.0, 3.0] and (1 - x).tolist() == [0.0, -1.0, -3.0]
    assert (x * 2).tolist() == [2.0, 4.0, 8.0] and (2 * x).tolist() == [2.0, 4.0, 8.0]
    assert (x / 2).tolist() == [0.5, 1.0, 2.0] and (4 / x).tolist() == [4.0, 2.0, 1.0]
    assert (x ** 2).tolist() == [1.0, 4.0, 16.0] and (2 ** x).tolist() == [2.0, 4.0, 16.0]
    assert (-x).tolist() == [-1.0, -2.0, -4.0] and abs(-x).tolist() == [1.0, 2.0, 4.0]
    assert x.add(x, alpha=2).tolist() == [3.0, 6.0, 12.0]
    assert x.sub(1).tolist() == [0.0, 1.0, 3.0] and x.mul(x).tolist() == [1.0, 4.0, 16.0]
    assert x.div(x).tolist() == [1.0] * 3
    assert x.pow(0.5).tolist() == [1.0, np.float32(2 ** 0.5), 2.0]
    assert (np.float64(2.0) * x).dtype is torch.float32  # a numpy scalar stays weak


def test_dtype_promotion_follows_pytorch():
    i, f = torch.tensor([1, 2]), torch.tensor([1.0, 2.0])
    assert (i + f).dtype is torch.float32
    assert (f * 2.5).dtype is torch.float32 and (i * 2).dtype is torch.int64
    assert (i * 2.5).dtype is torch.float32 and (i / 2).dtype is torch.float32
    assert (f + f.double()).dtype is torch.float64


def test_elementwise_math():
    x = torch.tensor([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(x.exp().numpy(), np.exp(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(x.abs().log().numpy(), np.log(np.abs(x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(x.abs().sqrt().numpy(), np.sqrt(np.abs(x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(x.sigmoid().numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(x.tanh().numpy(), np.tanh(x.numpy()), rtol=1e-6)
    assert x.relu().tolist() == [0.0, 0.5, 2.0] and x.clamp(0, 1).tolist() == [0.0, 0.5, 1.0]
    assert x.clamp(min=0.0).tolist() == [0.0, 0.5, 2.0]
    assert torch.exp(x).tolist() == x.exp().tolist() and torch.relu(x).tolist() == [0, 0.5, 2]
    s = torch.tensor([[1.0, 2.0, 3.0]]).softmax(dim=1)
    np.testing.assert_allclose(s.sum().item(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(torch.tensor([[1.0, 2.0]]).log_softmax(1).exp().sum().item(), 1.0,
                               rtol=1e-6)


def test_reductions():
    x = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    assert x.sum().item() == 21.0 and x.sum(0).tolist() == [5.0, 7.0, 9.0]
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.mean().item() == 3.5 and x.mean(1).tolist() == [3.0, 4.0]
    assert x.max().item() == 6.0 and x.min().item() == 1.0
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 6.0] and indices.tolist() == [1, 2]
    assert x.max(1).indices.dtype is torch.int64 and x.min(dim=0).values.tolist() == [1, 2, 3]
    assert x.argmax().item() == 5 and x.argmax(dim=1).tolist() == [1, 2]
    assert x.argmin(1).tolist() == [0, 1]
    assert torch.tensor([1, 2]).sum().dtype is torch.int64
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2]).mean()
    assert torch.max(x, torch.full((2, 3), 4.0)).tolist() == [[4, 5, 4], [4, 4, 6]]


def test_comparisons_and_logic():
    x = torch.tensor([1.0, 2.0, 3.0])
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert result.dtype is torch.bool
    assert (x > 1.5).tolist() == [False, True, True] and (x == 2).tolist() == [False, True, False]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert ((x < 2) | (x > 2)).tolist() == [True, False, True]
    assert (~(x > 1)).tolist() == [True, False, False]
    assert (x > 0).all().item() is True and (x > 2).any().item() is True
    assert (x > 2).all().item() is False and torch.tensor([[True, False]]).all(dim=1).tolist() == [
        False]


def test_matmul_forms():
    a, b = torch.ones(2, 3), torch.ones(3, 4)
    assert (a @ b).shape == (2, 4) and a.matmul(b).shape == (2, 4) and a.mm(b).shape == (2, 4)
    assert torch.matmul(a, torch.ones(3)).shape == (2,)
    assert (torch.ones(3) @ b).shape == (4,) and (torch.ones(3) @ torch.ones(3)).item() == 3.0
    assert torch.bmm(torch.ones(5, 2, 3), torch.ones(5, 3, 4)).shape == (5, 2, 4)
    assert (np.ones((2, 2)) @ torch.ones(2, 2, dtype=torch.float64)).tolist() == [[2, 2], [2, 2]]


def test_shape_errors_name_both_shapes():
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(3, 2\)"):
        torch.ones(2, 3) + torch.ones(3, 2)
    with pytest.raises(torch.TensorShapeError, match=r"\(2, 3\) and \(2, 3\)"):
        torch.ones(2, 3) @ torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.zeros(3).add_(torch.ones(2, 3))


def test_cat_stack_split_chunk():
    a, b = torch.zeros(2, 3), torch.ones(1, 3)
    assert torch.cat([a, b]).shape == (3, 3) and torch.cat([a, a], dim=1).shape == (2, 6)
    assert torch.stack([a, a]).shape == (2, 2, 3) and torch.stack([a, a], dim=2).shape == (2, 3, 2)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        torch.stack([a, b])
    x = torch.arange(10)
    assert [p.tolist() for p in x.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(p) for p in x.split([3, 7])] == [3, 7]
    assert [len(p) for p in x.chunk(3)] == [4, 4, 2]
    assert [p.shape for p in torch.ones(2, 6).chunk(2, dim=1)] == [(2, 3), (2, 3)]


def test_shape_methods():
    x = torch.arange(6).view(2, 3)
    assert x.t().shape == (3, 2) and x.T.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert x.view(-1).shape == (6,) and x.reshape(3, -1).shape == (3, 2)
    assert x.unsqueeze(1).shape == (2, 1, 3) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert x.view(1, 2, 1, 3).squeeze().shape == (2, 3)
    assert x.view(1, 6).squeeze(0).shape == (6,) and x.squeeze(0).shape == (2, 3)
    assert x.unsqueeze(0).expand(4, 2, 3).shape == (4, 2, 3)
    assert torch.ones(3, 1).expand(-1, 4).shape == (3, 4)
    assert x.repeat(2, 1).tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2], [3, 4, 5]]
    assert torch.tensor([1, 2]).repeat(2).tolist() == [1, 2, 1, 2]
    assert x.permute(1, 0).tolist() == x.t().tolist()
    assert torch.zeros(2, 3, 4).transpose(0, 2).shape == (4, 3, 2)
    assert torch.zeros(2, 3, 4).flatten(1).shape == (2, 12)


def test_in_place_ops_write_into_storage():
    x = torch.ones(3)
    ptr = x.data_ptr()
    x.add_(1)
    x.mul_(3)
    x.sub_(1)
    x.div_(5)
    assert x.tolist() == [1.0, 1.0, 1.0] and x.data_ptr() == ptr
    x += 2
    x -= 1
    x *= 4
    x /= 2
    assert x.tolist() == [4.0, 4.0, 4.0] and x.data_ptr() == ptr
    x.clamp_(max=3.0)
    assert x.tolist() == [3.0] * 3
    x.fill_(7)
    assert x.tolist() == [7.0] * 3
    x.copy_(torch.tensor([1.0, 2.0, 3.0]))
    assert x.tolist() == [1.0, 2.0, 3.0]
    x.zero_()
    assert x.tolist() == [0.0] * 3 and x.data_ptr() == ptr
    view = x[1:]
    view.add_(5)
    assert x.tolist() == [0.0, 5.0, 5.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.tensor([1, 2]).add_(1.5)


def test_masked_fill_and_where():
    x = torch.tensor([1.0, -2.0, 3.0])
    assert x.masked_fill(x < 0, 0.0).tolist() == [1.0, 0.0, 3.0]
    assert torch.where(x > 0, x, torch.zeros(3)).tolist() == [1.0, 0.0, 3.0]
    x.masked_fill_(x > 2, -1.0)
    assert x.tolist() == [1.0, -2.0, -1.0]


def test_functions_namespace():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.sum(x).item() == 10.0 and torch.mean(x, dim=0).tolist() == [2.0, 3.0]
    assert torch.flatten(x).shape == (4,) and torch.transpose(x, 0, 1).tolist() == x.t().tolist()
    assert torch.squeeze(torch.unsqueeze(x, 0)).shape == (2, 2)
    assert torch.is_tensor(x) and not torch.is_tensor([1]) and torch.numel(x) == 4
    assert torch.clamp(x, 2, 3).tolist() == [[2.0, 2.0], [3.0, 3.0]]
    assert torch.argmax(x).item() == 3 and torch.softmax(x, dim=1).shape == (2, 2)
