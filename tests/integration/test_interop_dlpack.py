"""The numpy bridge and DLPack: tensors cross to numpy, PyTorch and cupy without a copy.

Every "shares memory" claim is proven by a write on one side that shows on the other.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic.dlpack import KDL_CPU, to_dlpack
from tapeflow.runtime import gpu_available

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


# ---- numpy bridge ------------------------------------------------------------------------------


def test_from_numpy_and_numpy_share_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(a)
    t[0, 1] = 50.0
    assert a[0, 1] == 50.0
    a[1, 2] = -7.0
    assert t[1, 2].item() == -7.0
    back = t.numpy()
    assert back is a or np.shares_memory(back, a)
    back[0, 0] = 9.0
    assert t[0, 0].item() == 9.0 and a[0, 0] == 9.0


def test_from_numpy_keeps_a_strided_view_of_the_same_memory():
    base = np.zeros((4, 4))
    view = base[::2, 1:3].T  # non-contiguous
    t = torch.from_numpy(view)
    assert t.shape == (2, 2) and not t.is_contiguous()
    t[1, 0] = 3.0
    assert base[0, 2] == 3.0
    assert t.storage().data_ptr() == base.__array_interface__["data"][0]


def test_numpy_of_a_tensor_that_requires_grad_is_refused_but_detach_shares():
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.numpy()
    view = w.detach().numpy()
    view[0] = 4.0
    assert w[0].item() == 4.0


def _captured_feeds(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Wraps the Programs a Session builds so a test sees the feeds a run hands them."""
    import tapeflow.static.session as session_module

    seen: list[dict] = []
    real_build = session_module.compile

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):  # the Program's other attributes (source, ...)
            return getattr(self.inner, name)

        def run(self, feeds, variables):
            seen.append(dict(feeds))
            return self.inner.run(feeds, variables)

    monkeypatch.setattr(session_module, "compile",
                        lambda *args, **kwargs: Spy(real_build(*args, **kwargs)))
    return seen


@pytest.mark.parametrize("optimize", [True, False])
def test_static_feed_of_the_right_dtype_and_layout_is_not_copied(monkeypatch, optimize):
    seen = _captured_feeds(monkeypatch)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.reduce_sum(x * 2.0)
        options = tf.CompileOptions(optimize=optimize, plan_memory=optimize)
        with tf.Session(options=options) as sess:
            batch = np.arange(12, dtype=np.float32).reshape(4, 3)
            assert sess.run(y, {x: batch}) == pytest.approx(132.0)
            fortran = np.asfortranarray(batch)
            assert sess.run(y, {x: fortran}) == pytest.approx(132.0)
            converted = batch.astype(np.float64)  # the wrong dtype: converted, so a copy
            sess.run(y, {x: converted})
    (fed,), (fed_f,), (fed_64,) = (list(s.values()) for s in seen)
    assert fed is batch and fed_f is fortran
    assert fed_64.dtype == np.float32 and not np.shares_memory(fed_64, converted)


# ---- DLPack with numpy -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_reads_a_tensor_through_dlpack_without_a_copy(dtype):
    t = torch.zeros(2, 3, dtype=getattr(torch, dtype) if dtype != "bool" else torch.bool)
    assert t.__dlpack_device__() == (KDL_CPU, 0)
    a = np.from_dlpack(t)
    assert a.dtype == np.dtype(dtype) and a.shape == (2, 3)
    a[1, 2] = 1
    assert t[1, 2].item() == 1
    t[0, 0] = 1
    assert a[0, 0] == 1


def test_dlpack_exports_views_with_their_strides():
    t = torch.arange(12.0).view(3, 4)
    a = np.from_dlpack(t.t()[1:3])
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(3, 4).T[1:3])
    a[0, 0] = 100.0
    assert t[0, 1].item() == 100.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_dlpack_takes_numpy_memory_without_a_copy(dtype):
    a = np.zeros((3, 2), dtype=dtype)
    t = torch.from_dlpack(a)
    assert t.dtype.name == dtype and tuple(t.shape) == (3, 2)
    t[2, 1] = 1
    assert a[2, 1] == 1
    a[0, 0] = 1
    assert t[0, 0].item() == 1
    assert t.data_ptr() == a.__array_interface__["data"][0]


def test_round_trip_tensor_to_tensor_shares_storage():
    t = torch.arange(4.0)
    u = torch.from_dlpack(t)
    assert u is not t and u.data_ptr() == t.data_ptr()
    u[3] = -1.0
    assert t[3].item() == -1.0


def test_exporting_a_tensor_that_requires_grad_is_refused():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="require gradient, use tensor.detach"):
        np.from_dlpack(w)
    np.from_dlpack(w.detach())[0] = 5.0
    assert w[0].item() == 5.0


def test_from_dlpack_rejects_what_it_cannot_take():
    with pytest.raises(TypeError, match="__dlpack__"):
        torch.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="complex64 is not a tapeflow dtype"):
        torch.from_dlpack(np.zeros(2, dtype=np.complex64))


def test_a_legacy_capsule_is_consumed_once():
    t = torch.zeros(3)
    capsule = to_dlpack(t)
    u = torch.from_dlpack(capsule)
    u[1] = 2.0
    assert t[1].item() == 2.0
    with pytest.raises(BufferError, match="consumed only once"):
        torch.from_dlpack(capsule)


# ---- DLPack with PyTorch -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_torch_round_trips_share_memory(dtype):
    real = pytest.importorskip("torch")
    ours = torch.zeros(2, 2, dtype=getattr(torch, dtype) if dtype != "bool" else torch.bool)
    theirs = real.from_dlpack(ours)
    assert str(theirs.dtype) == f"torch.{dtype}"
    theirs[0, 1] = 1
    assert ours[0, 1].item() == 1
    ours[1, 0] = 1
    assert theirs[1, 0].item() == 1
    source = real.zeros(3, 2, dtype=getattr(real, dtype))
    back = torch.from_dlpack(source)
    back[2, 1] = 1
    assert source[2, 1].item() == 1
    source[0, 0] = 1
    assert back[0, 0].item() == 1


def test_torch_legacy_capsule_and_strided_tensor():
    real = pytest.importorskip("torch")
    from torch.utils.dlpack import to_dlpack as torch_to_dlpack

    source = real.arange(12.0).reshape(3, 4).t()  # a strided view
    mine = torch.from_dlpack(torch_to_dlpack(source))
    np.testing.assert_array_equal(mine.numpy(), source.numpy())
    mine[0, 2] = -5.0
    assert source[0, 2].item() == -5.0
    with pytest.raises(RuntimeError, match="require gradient"):
        real.from_dlpack(torch.ones(1, requires_grad=True))


# ---- DLPack with cupy (GPU) ----------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")
def test_cupy_round_trips_share_device_memory():
    import cupy

    ours = torch.zeros(4, device="cuda")
    theirs = cupy.from_dlpack(ours)
    theirs[1] = 3.0
    assert ours[1].item() == 3.0
    source = cupy.zeros(4, dtype=cupy.float32)
    back = torch.from_dlpack(source)
    assert back.is_cuda
    back[2] = 7.0
    assert float(source[2]) == 7.0
