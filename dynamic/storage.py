"""The middle of the three layers: tensor (shape, strides, offset) -> storage -> raw data.

A :class:`Storage` owns one flat 1-D backend array. Every tensor that views it (a
slice, a transpose, ``numpy()``, ``.data``) reads and writes the same memory; only
its shape, strides and offset differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from .device import device, device_of_array


def address(array: Any) -> int:
    """The address of an array's first element (numpy or cupy)."""
    if isinstance(array, np.ndarray):
        return int(array.__array_interface__["data"][0])
    return int(array.data.ptr)


def owner(array: Any) -> Any:
    """The array at the end of ``array``'s ``.base`` chain: the one that owns the memory."""
    root = array
    while getattr(root, "base", None) is not None and hasattr(root.base, "shape"):
        root = root.base
    return root


class Storage:
    """A flat 1-D buffer of one dtype on one device, shared by every view of it.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> x = torch.arange(6).view(2, 3)
        >>> x.t().storage().data_ptr() == x.storage().data_ptr()
        True
    """

    __slots__ = ("_flat", "__weakref__")

    def __init__(self, root: Any) -> None:
        # memory order, whatever the owner's layout: C order, else Fortran order
        if root.flags.c_contiguous:
            self._flat = root.reshape(-1)
        elif root.flags.f_contiguous:
            self._flat = root.T.reshape(-1)
        else:  # an owner we cannot flatten without copying: describe it as it is
            self._flat = root.reshape(-1)

    @classmethod
    def of(cls, array: Any) -> Storage:
        """The storage behind ``array`` (the owner of its memory)."""
        return cls(owner(array))

    @property
    def array(self) -> Any:
        """The flat backend array itself (no copy)."""
        return self._flat

    @property
    def dtype(self) -> dt.DType:
        return dt.of_array(self._flat)

    @property
    def device(self) -> device:
        return device_of_array(self._flat)

    def data_ptr(self) -> int:
        """Address of the first element: equal for every tensor that shares this storage."""
        return address(self._flat)

    def element_size(self) -> int:
        return int(self._flat.itemsize)

    def nbytes(self) -> int:
        return int(self._flat.nbytes)

    def size(self) -> int:
        return int(self._flat.size)

    def __len__(self) -> int:
        return int(self._flat.size)

    def tolist(self) -> list[Any]:
        return self._flat.tolist()

    def __getitem__(self, index: int) -> Any:
        return self._flat[index].item()

    def __setitem__(self, index: int, value: Any) -> None:
        self._flat[index] = value

    def __iter__(self) -> Any:
        return iter(self.tolist())

    def __repr__(self) -> str:
        values = self._flat.tolist()
        shown = values if len(values) <= 20 else values[:10] + ["..."] + values[-10:]
        lines = [f" {v}" for v in shown]
        name = self.dtype.name
        lines.append(f"[torch.storage.TypedStorage(dtype=tapeflow.{name}, device={self.device}) "
                     f"of size {len(values)}]")
        return "\n".join(lines)
