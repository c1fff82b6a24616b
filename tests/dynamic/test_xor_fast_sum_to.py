"""sum_to's kernel on numpy arrays calls np.add.reduce at once (runtime/ops_shape.py); these
tests hold it to the bits of the ``x.sum(...)`` it replaced, for every kind of axes it sums
(leading axes only, size-1 axes kept, both), in the float and integer dtypes it meets."""

from __future__ import annotations

import numpy as np
import pytest
from tapeflow.runtime import REGISTRY

_SUM_TO = REGISTRY["sum_to"]

CASES = [
    ((4, 8), (8,)),  # a bias's gradient: leading axis only
    ((4, 8), (1, 8)),  # a size-1 axis kept
    ((4, 8), (4, 1)),
    ((3, 4, 5), (5,)),
    ((3, 4, 5), (4, 1)),  # a leading axis and a size-1 one: reshaped after keepdims
    ((3, 4, 5), (1, 1, 1)),
    ((2, 3), ()),  # a 0-d target
    ((6,), (1,)),
]


def _by_method(x: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    # the steps before: ndarray.sum over the same axes
    lead = x.ndim - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                      if d == 1 and x.shape[lead + i] != 1)
    if len(axes) == lead and target:
        return x.sum(axis=axes)
    return x.sum(axis=axes, keepdims=True).reshape(target)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64,
                                   np.bool_])
@pytest.mark.parametrize(("shape", "target"), CASES)
def test_sum_to_matches_the_sum_method_bit_for_bit(dtype: type, shape: tuple[int, ...],
                                                   target: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape) + len(target))
    x = (rng.standard_normal(shape) * 1e3).astype(dtype)
    got = np.asarray(_SUM_TO.kernel(np, x, np.empty(target, dtype)))
    want = np.asarray(_by_method(x, target))
    assert got.shape == want.shape == target
    assert got.dtype == want.dtype  # (int32 and bool sum in the platform's int, as before)
    assert got.tobytes() == want.tobytes()


def test_sum_to_writes_into_out_and_copies_an_equal_shape() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = np.empty(4, np.float32)
    assert _SUM_TO.kernel(np, x, out, out=out) is out
    assert out.tolist() == [12.0, 15.0, 18.0, 21.0]
    same = _SUM_TO.kernel(np, x, np.empty((3, 4), np.float32))
    assert same is not x and same.tolist() == x.tolist()
