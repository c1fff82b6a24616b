"""Runtime foundation: dtypes and promotion, shape rules with None dims, backends, arena."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tapeflow import runtime
from tapeflow.runtime import REGISTRY, R, ShapeError, Spec, get
from tapeflow.runtime import dtypes as dt
from tapeflow.runtime.arena import ALIGNMENT, Arena
from tapeflow.runtime.backend import DeviceError, Generator, canonical_device, xp_for

BACKENDS = ["cpu"] + (["gpu"] if runtime.gpu_available() else [])


# ---- dtypes --------------------------------------------------------------------------


def test_dtype_table_and_aliases():
    assert dt.as_dtype("float") is dt.float32
    assert dt.as_dtype("double") is dt.float64
    assert dt.as_dtype("half") is dt.float16
    assert dt.as_dtype("long") is dt.int64 and dt.as_dtype("int") is dt.int32
    assert dt.as_dtype("float32") is dt.float32 and dt.as_dtype(np.int16) is dt.int16
    assert dt.as_dtype(float) is dt.float32 and dt.as_dtype(bool) is dt.bool_
    assert {n: d.name for n, d in dt.LEGACY_TENSOR_TYPES.items()} == {
        "FloatTensor": "float32",
        "DoubleTensor": "float64",
        "HalfTensor": "float16",
        "ByteTensor": "uint8",
        "CharTensor": "int8",
        "ShortTensor": "int16",
        "IntTensor": "int32",
        "LongTensor": "int64",
        "BoolTensor": "bool",
    }
    with pytest.raises(TypeError, match="unknown dtype 'floot'"):
        dt.as_dtype("floot")


def test_promotion_rules():
    assert dt.promote(dt.int64, dt.float32) is dt.float32  # int with float gives the float
    assert dt.promote(dt.float32, dt.float64) is dt.float64
    assert dt.promote(dt.int8, dt.uint8) is dt.int16
    assert dt.promote(dt.bool_, dt.int32) is dt.int32
    assert dt.with_scalar(dt.float32, 2.5) is dt.float32  # a scalar does not upcast
    assert dt.with_scalar(dt.int32, 2.5) is dt.float32
    assert dt.with_scalar(dt.int32, 7) is dt.int32
    assert dt.with_scalar(dt.bool_, 1) is dt.int64


def test_evaluate_follows_promotion():
    f32 = np.ones(3, np.float32)
    assert R.mul(f32, 2.5).dtype == np.float32
    assert R.add(np.ones(3, np.int64), f32).dtype == np.float32
    assert R.mul(np.arange(3, dtype=np.int32), 2.5).dtype == np.float32
    assert R.div(np.arange(3), 2).dtype == np.float32  # true division lifts ints to float
    assert R.eq(f32, 1).dtype == np.bool_


# ---- shape rules -----------------------------------------------------------------------


def spec(*shape, dtype=dt.float32):
    return Spec(tuple(shape), dtype)


def test_shape_rules_with_unknown_dims():
    x = spec(None, 2)
    assert get("add").infer(x, spec(2)).shape == (None, 2)
    assert get("matmul").infer(x, spec(2, 5)).shape == (None, 5)
    assert get("matmul").infer(spec(None, 3, 4), spec(5, 4), transpose_b=True).shape == (None, 3, 5)
    assert get("sum").infer(x, axis=1).shape == (None,)
    assert get("mean").infer(x, axis=0, keepdims=True).shape == (1, 2)
    assert get("reshape").infer(x, shape=(-1,)).shape == (None,)
    assert get("reshape").infer(spec(4, 2), shape=(-1, 4)).shape == (2, 4)
    assert get("transpose").infer(x).shape == (2, None)
    assert get("concat").infer(x, spec(None, 3), axis=1).shape == (None, 5)
    assert get("stack").infer(x, x, axis=1).shape == (None, 2, 2)
    assert get("take").infer(spec(10, 4), spec(None, 7, dtype=dt.int64)).shape == (None, 7, 4)
    assert get("getitem").infer(
        spec(None, 6), index=runtime.encode_index((slice(None), slice(1, 5, 2)))
    ).shape == (None, 2)
    assert get("add").infer(Spec(None, dt.float32), x).shape is None  # unknown rank stays unknown


def test_shape_errors_name_the_op_and_both_shapes():
    with pytest.raises(ShapeError, match=r"matmul.*\(\?, 2\).*\(3, 5\)"):
        get("matmul").infer(spec(None, 2), spec(3, 5))
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        get("add").infer(spec(2, 3), spec(4))
    with pytest.raises(ShapeError, match="cannot reshape"):
        get("reshape").infer(spec(2, 3), shape=(4, 2))
    with pytest.raises(ShapeError, match=r"concat: shapes .* differ in dimension 0"):
        get("concat").infer(spec(2, 3), spec(4, 3), axis=1)
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        R.matmul(np.ones((2, 3)), np.ones((2, 3)))  # eager evaluation names them too


def test_every_op_has_a_kernel_a_rule_and_a_doc():
    for name, op in REGISTRY.items():
        assert callable(op.kernel) and callable(op.infer), name
        assert op.doc, f"op {name} has no one-line description"
        assert op.kind in {
            "elementwise",
            "reduce",
            "view",
            "linalg",
            "index",
            "nn",
            "create",
            "random",
        }
    views = {n for n, op in REGISTRY.items() if op.view}
    assert {"reshape", "transpose", "squeeze", "unsqueeze", "getitem", "broadcast_to"} <= views


def test_a_second_definition_of_an_op_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        runtime.register("add", kernel=lambda xp, x, y, out=None: x, infer=lambda x, y: x, arity=2)


def test_unknown_op_suggests_close_names():
    with pytest.raises(KeyError, match="did you mean matmul"):
        get("matmull")


def test_kernels_write_into_out():
    x = np.random.default_rng(0).standard_normal((4, 3))
    for name, args, attrs in [
        ("exp", (x,), {}),
        ("add", (x, x), {}),
        ("sum", (x,), {"axis": 0}),
        ("softmax", (x,), {}),
        ("matmul", (x, x), {"transpose_b": True}),
        ("sigmoid", (x,), {}),
        ("relu", (x,), {}),
    ]:
        expected = runtime.evaluate(get(name), args, attrs)
        out = np.empty_like(expected)
        result = runtime.evaluate(get(name), args, attrs, out=out)
        assert result is out and np.array_equal(out, expected), name


def test_softmax_is_numerically_stable():
    big = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    assert np.allclose(R.softmax(big), [[0.5, 0.5], [0.0, 1.0]])
    assert np.isfinite(R.log_softmax(big)).all()
    assert np.isfinite(R.sigmoid(np.array([-1000.0, 1000.0], np.float32))).all()


def test_split_indices_cut_views():
    from tapeflow.runtime.composites import split_indices

    x = np.arange(10)
    pieces = [R.getitem(x, index=i) for i in split_indices(10, 4, 0)]
    assert [p.tolist() for p in pieces] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(np.shares_memory(p, x) for p in pieces)
    with pytest.raises(ValueError, match="add up to 9"):
        split_indices(10, [4, 5], 0)


# ---- backends --------------------------------------------------------------------------


def test_device_names(monkeypatch):
    assert canonical_device(None) == "cpu"
    assert canonical_device("cuda:0") == "gpu"
    monkeypatch.setenv("TAPEFLOW_DEVICE", "gpu")
    assert canonical_device(None) == "gpu"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        canonical_device("tpu")


@pytest.mark.skipif(runtime.gpu_available(), reason="checks the error without a GPU")
def test_gpu_without_cupy_is_one_clear_error():
    with pytest.raises(DeviceError, match="device 'gpu' needs"):
        xp_for("gpu")


@pytest.mark.parametrize("device", BACKENDS)
def test_generator_is_seeded_and_identical_across_backends(device):
    a = Generator(seed=3, device=device).uniform((5,), -1, 1, dt.float64)
    b = Generator(seed=3).uniform((5,), -1, 1, dt.float64)
    host = a if device == "cpu" else a.get()
    assert np.array_equal(host, b)
    n = Generator(seed=1, device=device).truncated_normal((1000,), 0.0, 1.0, dt.float32)
    assert float(abs(n).max()) <= 2.0


# ---- arena -----------------------------------------------------------------------------


@pytest.mark.parametrize("device", BACKENDS)
def test_arena_views_are_aligned_and_disjoint(device):
    arena = Arena(1024, device=device)
    assert arena.address % ALIGNMENT == 0
    a = arena.view(0, (4, 4), dt.float32)
    b = arena.view(64, (8,), dt.float64)
    c = arena.view(128, (3,), dt.int32)
    for v, offset in [(a, 0), (b, 64), (c, 128)]:
        assert Arena.base_address_of(v) == arena.address + offset
        assert Arena.base_address_of(v) % ALIGNMENT == 0
    a[...] = 1.0
    b[...] = 2.0
    assert float(a.sum()) == 16.0  # writing b did not touch a
    with pytest.raises(ValueError, match="outside the arena"):
        arena.view(1000, (100,), dt.float32)


def test_peak_bytes_sees_numpy_buffers():
    peak, value = runtime.peak_bytes(lambda: np.ones((1000, 100)).sum())
    assert peak >= 800_000 and value == 100_000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_cross_entropy_equals_its_composite_bit_for_bit(dtype: Any) -> None:
    # the fused op computes -sum(one_hot * log_softmax(x)) with one pass fewer, same bits
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((7, 5)) * 4).astype(dtype)
    labels = rng.integers(0, 5, 7)
    composite = R.neg(R.sum(R.mul(R.one_hot(labels, depth=5, dtype=logits.dtype),
                                  R.log_softmax(logits)), axis=-1))
    fused = R.sparse_softmax_cross_entropy(logits, labels)
    assert fused.dtype == dtype
    np.testing.assert_array_equal(fused, composite)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    probs[np.arange(7), labels] -= 1
    g = rng.standard_normal(7).astype(dtype)
    np.testing.assert_allclose(R.sparse_softmax_cross_entropy_grad(g, logits, labels),
                               g[:, None] * probs, rtol=1e-6)
    with pytest.raises(ShapeError, match="label value of -1 which is outside"):
        R.sparse_softmax_cross_entropy(logits, np.full(7, -1))
    with pytest.raises(ShapeError, match="labels of shape"):
        R.sparse_softmax_cross_entropy(logits, labels[:3])


@pytest.mark.parametrize("shape, target", [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), ()),
                                           ((4, 2, 3), (2, 1)), ((4, 2, 3), (1, 1, 3)),
                                           ((5,), (1,)), ((3,), (3,))])
def test_sum_to_undoes_broadcasting(shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    for _ in range(2):  # (the second call uses the plan the first one worked out)
        got = R.sum_to(x, np.zeros(target))
        assert isinstance(got, np.ndarray) and got.shape == target
        lead = len(shape) - len(target)
        want = x.sum(axis=tuple(range(lead))) if lead else x
        want = want.sum(axis=tuple(i for i, d in enumerate(target) if d == 1), keepdims=True)
        # (the reference sums in another order)
        np.testing.assert_allclose(got, want.reshape(target), rtol=1e-12)
        assert not np.may_share_memory(got, x)
