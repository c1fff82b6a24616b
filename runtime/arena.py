"""One allocation, many typed views: the memory arena that static plans run in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import dtypes as dt
from .backend import xp_for
from .shapes import num_elements

ALIGNMENT = 64  # bytes; a cache line, and enough for any SIMD load


def align(nbytes: int, alignment: int = ALIGNMENT) -> int:
    return (nbytes + alignment - 1) // alignment * alignment


class Arena:
    """A single buffer of ``nbytes`` on a device, handing out typed views at offsets.

    Example:
        >>> arena = Arena(256)
        >>> v = arena.view(64, (4, 4), dt.float32)
        >>> v.shape, v.dtype.name
        ((4, 4), 'float32')
    """

    def __init__(self, nbytes: int, device: str = "cpu") -> None:
        self.xp = xp_for(device)
        self.device = device
        self.nbytes = int(nbytes)
        # over-allocate so the first byte we hand out can be aligned
        self._raw = self.xp.empty(self.nbytes + ALIGNMENT, dtype=self.xp.uint8)
        address = self.base_address_of(self._raw)
        self._start = (-address) % ALIGNMENT
        self.buffer = self._raw[self._start : self._start + self.nbytes]

    @staticmethod
    def base_address_of(array: Any) -> int:
        if hasattr(array, "__array_interface__"):
            return int(array.__array_interface__["data"][0])
        return int(array.data.ptr)

    @property
    def address(self) -> int:
        return self.base_address_of(self.buffer)

    def view(self, offset: int, shape: Sequence[int], dtype: dt.DType) -> Any:
        """A C-contiguous array of ``shape``/``dtype`` over bytes ``[offset, offset + size)``."""
        dtype = dt.as_dtype(dtype)
        size = num_elements(shape) * dtype.itemsize
        if offset < 0 or offset + size > self.nbytes:
            raise ValueError(
                f"arena view [{offset}, {offset + size}) is outside the arena of "
                f"{self.nbytes} bytes"
            )
        if offset % min(ALIGNMENT, dtype.itemsize) and offset % dtype.itemsize:
            raise ValueError(f"offset {offset} is not aligned for {dtype.name}")
        return self.buffer[offset : offset + size].view(dtype.np).reshape(tuple(shape))
