"""Advanced indexing with several integer index arrays, built from registered ops through R.

``x[rows, cols]`` (PyTorch and numpy) picks one element per broadcast pair of indices.
Here the indexed dimensions are merged into one (``reshape``, a view) and the pairs become
one flat index into it (``i0 * size1 + i1``), so a single ``take`` gathers, and ``take``'s
gradient (``scatter_add``) puts each gradient back where it came from, summing repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .registry import R


def flat_index(indices: Sequence[Any], sizes: Sequence[int]) -> Any:
    """One index into the merged dimensions: ``((i0 * s1 + i1) * s2 + i2) ...``, negative
    indices first taken from the end of their dimension (``i + size``)."""
    flat = None
    for idx, size in zip(indices, sizes, strict=True):
        idx = R.where(R.lt(idx, 0), R.add(idx, size), idx)
        flat = idx if flat is None else R.add(R.mul(flat, size), idx)
    return flat


def take_along_dims(x: Any, indices: Sequence[Any], at: int, shape: Sequence[int]) -> Any:
    """``x[:, ..., i0, i1, ..., :]`` for integer index arrays at the adjacent dimensions
    ``at, at + 1, ...`` of ``x`` (of ``shape``): the indices broadcast together and their
    shape replaces those dimensions, as in PyTorch and numpy."""
    k = len(indices)
    sizes = tuple(shape[at:at + k])
    merged = R.reshape(x, shape=tuple(shape[:at]) + (-1,) + tuple(shape[at + k:]))
    return R.take(merged, flat_index(indices, sizes), axis=at)
