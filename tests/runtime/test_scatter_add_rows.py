"""scatter_add's row path (an embedding's gradient): the flat-index add.at gives the same
bits as adding the rows one after another, in index order, and checks its indices."""

from __future__ import annotations

import numpy as np
import pytest
from tapeflow.runtime.registry import REGISTRY

KERNEL = REGISTRY["scatter_add"].kernel


def _one_by_one(g: np.ndarray, indices: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = np.zeros(like.shape, g.dtype)
    rows = g.reshape(indices.size, *like.shape[1:])
    for i, row in zip(indices.reshape(-1), rows, strict=True):
        out[i] = out[i] + row  # (index order, one addition at a time)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("like_shape, index_shape", [((40, 16), (16, 40)), ((7,), (30,)),
                                                     ((5, 2, 3), (4, 6))])
def test_rows_add_up_bit_for_bit_in_index_order(dtype, like_shape, index_shape):
    rng = np.random.default_rng(3)
    indices = rng.integers(-like_shape[0], like_shape[0], size=index_shape)  # (repeats, negatives)
    g = rng.standard_normal(index_shape + like_shape[1:]).astype(dtype)
    like = np.empty(like_shape, dtype)
    got = KERNEL(np, g, indices, like)
    assert got.dtype == dtype and got.shape == like_shape
    np.testing.assert_array_equal(got, _one_by_one(g, indices, like))
    planned = np.full(like_shape, 9.0, dtype)  # (a planned output buffer is zeroed first)
    assert KERNEL(np, g, indices.astype(np.int32), like, out=planned) is planned
    np.testing.assert_array_equal(planned, got)


@pytest.mark.parametrize("bad", [4, -5])
def test_an_index_out_of_range_names_the_rows(bad):
    with pytest.raises(IndexError, match=r"scatter_add: index out of range for dimension 0 "
                                         r"with size 4"):
        KERNEL(np, np.ones((2, 3)), np.array([0, bad]), np.empty((4, 3)))


def test_a_column_scatter_takes_the_general_path():
    g, like = np.arange(6.0).reshape(2, 3), np.empty((2, 5))
    got = KERNEL(np, g, np.array([4, 4, 0]), like, axis=1)
    np.testing.assert_array_equal(got, [[2.0, 0, 0, 0, 1.0], [5.0, 0, 0, 0, 7.0]])


@pytest.mark.parametrize("indices", [[3, 1, 0, 2], [-1, 0], [2, -2], [0], []])
def test_distinct_rows_are_written_once_each(indices):
    # (a loop's gradient rows: each index once; -2 and 2 of 4 rows are the same row)
    rng = np.random.default_rng(5)
    index = np.array(indices, dtype=np.int32)
    g = rng.standard_normal((len(indices), 2, 3))
    like = np.empty((4, 2, 3))
    np.testing.assert_array_equal(KERNEL(np, g, index, like), _one_by_one(g, index, like))
