"""``x[i0, i1]`` with several integer index arrays (PyTorch's advanced indexing), eagerly.

The classic hand-written negative log-likelihood, ``-log_probs[range(n), target].mean()``,
indexes with two arrays at once. The gather itself is the runtime composite
``take_along_dims`` (a ``reshape`` and one ``take``), so its gradient is ``take``'s; this
module only sorts the index items and checks bounds with PyTorch's messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime.composites_index import take_along_dims


def advanced_items(items: tuple[Any, ...], special: list[int]) -> tuple[int, list[Any]] | None:
    """(first indexed dimension, index arrays) when ``items`` holds several index arrays
    (tensors, lists, ranges, arrays, with ints among them counting as 0-d arrays) in one
    adjacent block, the rest full slices; None when it is not such an index."""
    ints = [i for i, item in enumerate(items)
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool)]
    if any(getattr(getattr(items[i], "dtype", None), "is_bool", False) for i in special):
        return None  # a boolean mask among them: the mask path says what it supports
    block = sorted(special + ints)
    if len(block) < 2 or block != list(range(block[0], block[-1] + 1)):
        return None
    if any(i not in block and item != slice(None) for i, item in enumerate(items)):
        return None
    return block[0], [items[i] for i in block]


def take_several(x: Any, at: int, items: list[Any]) -> Any:
    """``x[..., items..., ...]`` starting at dimension ``at``: bounds checked, then gathered
    through the shared composite (so the gradient flows back to ``x``)."""
    from .creation import tensor as make_tensor

    shape = tuple(x.shape)
    if at + len(items) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    indices = []
    for offset, item in enumerate(items):
        idx = item if hasattr(item, "_array") else make_tensor(np.asarray(item))
        array = np.asarray(idx._array) if hasattr(idx._array, "__array__") else idx._array
        if not np.issubdtype(array.dtype, np.integer):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        size = shape[at + offset]
        bad = array[(array < -size) | (array >= size)]
        if bad.size:
            raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension "
                             f"{at + offset} with size {size}")
        indices.append(idx)
    return take_along_dims(x, indices, at, shape)


def write_index(x: Any, at: int, items: list[Any]) -> tuple[Any, ...]:
    """The numpy index for ``x[..., items..., ...] = value`` (bounds checked as a read)."""
    take_several(x, at, items)
    arrays = [item._array if hasattr(item, "_array") else np.asarray(item) for item in items]
    return (slice(None),) * at + tuple(arrays)
