"""tapeflow.dynamic tensors: creation, dtypes, devices, the storage model, views, indexing."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import DeviceError, gpu_available

# ---- creation and dtypes ----------------------------------------------------------------------


def test_tensor_infers_pytorch_dtypes():
    assert torch.tensor([1.0, 2.0]).dtype is torch.float32
    assert torch.tensor([1, 2]).dtype is torch.int64
    assert torch.tensor([True, False]).dtype is torch.bool
    assert torch.tensor(np.zeros(2)).dtype is torch.float64  # numpy keeps its dtype
    assert torch.tensor([1, 2], dtype=torch.float64).dtype is torch.float64


@pytest.mark.parametrize("name, expected", [
    ("float32", "float32"), ("float", "float32"), ("float64", "float64"), ("double", "float64"),
    ("float16", "float16"), ("half", "float16"), ("int64", "int64"), ("long", "int64"),
    ("int32", "int32"), ("int", "int32"), ("int16", "int16"), ("int8", "int8"),
    ("uint8", "uint8"), ("bool", "bool")])
def test_dtype_names(name, expected):
    d = getattr(torch, name)
    assert d.name == expected
    assert torch.zeros(2, dtype=d).dtype is d


def test_creation_functions():
    assert torch.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert torch.ones((2,)).tolist() == [1.0, 1.0]
    assert torch.empty(2, 2).shape == (2, 2)
    assert torch.full((2,), 3.5).tolist() == [3.5, 3.5]
    assert torch.full((1,), 7).dtype is torch.int64
    assert torch.arange(4).tolist() == [0, 1, 2, 3] and torch.arange(4).dtype is torch.int64
    assert torch.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert torch.rand(3, 2).shape == (3, 2) and torch.randn(4).dtype is torch.float32
    x = torch.ones(2, 3, dtype=torch.float64)
    for like in (torch.zeros_like, torch.ones_like, torch.empty_like, torch.rand_like,
                 torch.randn_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype is torch.float64
    assert torch.full_like(x, 2.0).tolist() == [[2.0] * 3] * 2


def test_manual_seed_repeats_draws():
    torch.manual_seed(3)
    a, b = torch.rand(3), torch.randn(2)
    torch.manual_seed(3)
    assert torch.rand(3).tolist() == a.tolist() and torch.randn(2).tolist() == b.tolist()
    assert 0.0 <= float(a.min()) and float(a.max()) < 1.0


def test_legacy_constructors():
    f = torch.FloatTensor(2, 3)
    assert f.dtype is torch.float32 and f.shape == (2, 3)
    assert torch.LongTensor([1, 2]).dtype is torch.int64
    assert torch.DoubleTensor([1]).dtype is torch.float64
    assert torch.HalfTensor(1).dtype is torch.float16
    assert torch.ByteTensor([1]).dtype is torch.uint8
    assert torch.CharTensor([1]).dtype is torch.int8
    assert torch.ShortTensor([1]).dtype is torch.int16
    assert torch.IntTensor([1]).dtype is torch.int32
    assert isinstance(f, torch.FloatTensor) and not isinstance(f, torch.LongTensor)
    assert torch.Tensor(2, 2).dtype is torch.float32
    assert torch.Tensor([1, 2]).tolist() == [1.0, 2.0]
    assert f.type() == "torch.FloatTensor"
    assert f.type(torch.DoubleTensor).dtype is torch.float64


def test_properties():
    x = torch.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.size() == x.shape and x.size(1) == 3 and x.size(-1) == 4
    assert repr(x.shape) == "torch.Size([2, 3, 4])"
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
    assert x.device == torch.device("cpu") and str(x.device) == "cpu"
    assert x.is_leaf and x.grad is None and x.grad_fn is None and not x.requires_grad
    assert torch.tensor(2.5).item() == 2.5
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        x.item()
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)


def test_to_and_casts():
    x = torch.tensor([1.7, -2.2])
    assert x.double().dtype is torch.float64 and x.to(torch.float64).dtype is torch.float64
    assert x.long().tolist() == [1, -2] and x.int().dtype is torch.int32
    assert x.half().dtype is torch.float16 and x.float() is x
    assert x.to("cpu") is x and x.to(torch.device("cpu"), torch.float64).dtype is torch.float64
    assert x.to(torch.zeros(1, dtype=torch.float64)).dtype is torch.float64


def test_repr_reads_like_pytorch():
    assert repr(torch.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(torch.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(torch.tensor([1.0], dtype=torch.float64)) == "tensor([1.], dtype=tapeflow.float64)"
    w = torch.tensor([1.0], requires_grad=True)
    assert repr(w) == "tensor([1.], requires_grad=True)"
    assert repr(w * 2) == "tensor([2.], grad_fn=<MulBackward0>)"


# ---- devices --------------------------------------------------------------------------------


def test_device_objects():
    assert repr(torch.device("cpu")) == "device(type='cpu')"
    assert torch.device("cuda:0").type == "cuda"
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        torch.device("tpu")


@pytest.mark.skipif(gpu_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    assert torch.cuda.is_available() is False
    with pytest.raises(DeviceError, match="gpu"):
        torch.zeros(2, device="cuda")
    with pytest.raises(DeviceError):
        torch.ones(2).to("cuda")
    with pytest.raises(DeviceError):
        torch.nn.Linear(2, 2).to(torch.device("cuda"))


# ---- the storage model --------------------------------------------------------------------


def test_three_layers_tensor_storage_data():
    x = torch.arange(12).view(3, 4)
    s = x.storage()
    assert len(s) == 12 and s.size() == 12 and s.tolist() == list(range(12))
    assert s.data_ptr() == x.data_ptr()
    row = x[1]
    assert row.storage().data_ptr() == s.data_ptr()
    assert row.storage_offset() == 4 and row.data_ptr() - x.data_ptr() == 4 * 8
    assert x.stride() == (4, 1) and x.t().stride() == (1, 4)
    assert x.is_contiguous() and not x.t().is_contiguous()
    assert "TypedStorage(dtype=tapeflow.int64, device=cpu) of size 12" in repr(s)


def test_views_share_memory():
    x = torch.zeros(2, 3)
    for view in (x.view(6), x.t(), x.transpose(0, 1), x.permute(1, 0), x[0], x[:, 1:],
                 x.unsqueeze(0), x.view(1, 2, 3).squeeze(0), x.split(1, dim=1)[2],
                 x.chunk(2)[1], x.reshape(3, 2), x.flatten(), x.T, x.detach(), x.data):
        assert view.storage().data_ptr() == x.storage().data_ptr()
    x.view(6)[4] = 9.0
    assert x[1, 1].item() == 9.0
    x.t()[2, 0] = 5.0
    assert x[0, 2].item() == 5.0


def test_view_error_and_reshape_copy():
    t = torch.arange(6).view(2, 3).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(6)
    flat = t.reshape(6)
    assert flat.tolist() == [0, 3, 1, 4, 2, 5]
    assert flat.storage().data_ptr() != t.storage().data_ptr()
    assert t.contiguous().is_contiguous()
    with pytest.raises(RuntimeError, match="invalid for input of size 6"):
        torch.arange(6).view(4, 2)


def test_numpy_bridge_shares_memory():
    a = np.zeros(3, dtype=np.float32)
    t = torch.from_numpy(a)
    t[0] = 5.0
    assert a[0] == 5.0
    a[1] = 7.0
    assert t[1].item() == 7.0
    n = t.numpy()
    assert n is t.numpy() and np.shares_memory(n, a)
    with pytest.raises(RuntimeError, match="detach"):
        torch.ones(1, requires_grad=True).numpy()


def test_data_shares_storage_without_tracking():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    d = w.data
    assert not d.requires_grad and d.storage().data_ptr() == w.storage().data_ptr()
    d.mul_(3)  # allowed: .data is outside the tape
    assert w.tolist() == [3.0, 6.0] and w.requires_grad


def test_clone_copies():
    x = torch.ones(2)
    y = x.clone()
    y[0] = 4.0
    assert x.tolist() == [1.0, 1.0] and y.storage().data_ptr() != x.storage().data_ptr()


# ---- indexing ---------------------------------------------------------------------------------


def test_basic_indexing_and_slicing():
    x = torch.arange(12).view(3, 4)
    assert x[1].tolist() == [4, 5, 6, 7]
    assert x[1, 2].item() == 6 and x[1, 2].dim() == 0
    assert x[:, 1].tolist() == [1, 5, 9]
    assert x[1:, ::2].tolist() == [[4, 6], [8, 10]]
    assert x[..., -1].tolist() == [3, 7, 11]
    assert x[None].shape == (1, 3, 4)
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]


def test_integer_and_mask_indexing():
    x = torch.arange(12).view(3, 4)
    assert x[torch.tensor([2, 0])].tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert x[:, torch.tensor([0, 3])].tolist() == [[0, 3], [4, 7], [8, 11]]
    assert x[[1, 1]].shape == (2, 4)
    assert x[x > 8].tolist() == [9, 10, 11]


def test_setitem_in_place():
    x = torch.zeros(2, 3)
    x[0] = 1.0
    x[1, 1:] = torch.tensor([2.0, 3.0])
    assert x.tolist() == [[1.0, 1.0, 1.0], [0.0, 2.0, 3.0]]
    g = torch.tensor([-1.0, 2.0, -3.0])
    g[g < 0] = 0
    assert g.tolist() == [0.0, 2.0, 0.0]
    h = torch.zeros(3)
    h[torch.tensor([True, False, True])] = torch.tensor([5.0, 6.0])
    assert h.tolist() == [5.0, 0.0, 6.0]
    k = torch.zeros(4)
    k[torch.tensor([3, 0])] = 1.0
    assert k.tolist() == [1.0, 0.0, 0.0, 1.0]


def test_iteration_and_len():
    x = torch.arange(6).view(3, 2)
    assert len(x) == 3 and [r.tolist() for r in x] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(TypeError):
        len(torch.tensor(1.0))
