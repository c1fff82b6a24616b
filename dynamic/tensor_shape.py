"""Shape methods and indexing (a mixin of Tensor): views share storage, as in PyTorch.

``view``, ``t``, ``transpose``, ``permute``, ``squeeze``, ``unsqueeze``, ``expand``,
``split``, ``chunk`` and basic indexing return tensors over the same storage; integer
and boolean tensor indexing gather into new memory (``take``, ``mask_select``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import REGISTRY, array_module, composites
from ..runtime.ops_index import encode_index
from ..runtime.shapes import int_dims
from .dispatch import apply, apply_, apply_packed, check_inplace
from .fast_ops import basic_index
from .index_multi import advanced_items, take_several, write_index

_GETITEM = REGISTRY["getitem"]


def _sizes(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return int_dims(args, "size")  # (2.0 is refused, as PyTorch does, not truncated)


def _viewable(array: Any, shape: tuple[int, ...]) -> bool:
    # numpy refuses to set .shape exactly when the new shape needs a copy
    probe = array.view()
    try:
        probe.shape = shape
    except (AttributeError, ValueError):
        return False
    return True


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "_array")


class TensorShape:
    """Reshaping, views, splitting and indexing; mixed into Tensor."""

    __slots__ = ()

    def _resolve(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        from ..runtime import ShapeError
        from ..runtime.shapes import reshaped
        from .dispatch import TensorShapeError

        try:
            return tuple(reshaped("view", self._array.shape, shape))  # type: ignore[attr-defined]
        except ShapeError:
            raise TensorShapeError(f"shape '{list(shape)}' is invalid for input of size "
                                   f"{self._array.size}") from None  # type: ignore[attr-defined]

    def view(self, *shape: Any) -> Any:
        """A tensor over the same storage with a new shape; an error when that needs a copy."""
        target = self._resolve(_sizes(shape))
        if not _viewable(self._array, target):  # type: ignore[attr-defined]
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces). "
                               "Use .reshape(...) instead.")
        return apply("reshape", self, shape=target, label="ViewBackward0")

    def reshape(self, *shape: Any) -> Any:
        """``view`` when the memory allows it, else a copy with the new shape."""
        target = self._resolve(_sizes(shape))
        source = self if _viewable(self._array, target) else self.contiguous()  # type: ignore[attr-defined]
        return apply("reshape", source, shape=target, label="ReshapeAliasBackward0")

    def view_as(self, other: Any) -> Any:
        return self.view(tuple(other.shape))

    def reshape_as(self, other: Any) -> Any:
        return self.reshape(tuple(other.shape))

    def contiguous(self) -> Any:
        if self._array.flags.c_contiguous:  # type: ignore[attr-defined]
            return self
        return apply("copy", self, label="CloneBackward0")

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        shape = self._array.shape  # type: ignore[attr-defined]
        if not shape:
            return self.reshape(1)
        start, end = start_dim % len(shape), end_dim % len(shape)
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def t(self) -> Any:
        if self._array.ndim > 2:  # type: ignore[attr-defined]
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self._array.ndim}D")  # type: ignore[attr-defined]
        return apply("transpose", self, label="TBackward0")

    @property
    def T(self) -> Any:  # noqa: N802
        return apply("transpose", self, label="PermuteBackward0")

    def transpose(self, dim0: int, dim1: int) -> Any:
        axes = list(range(self._array.ndim))  # type: ignore[attr-defined]
        a, b = self._dim(dim0), self._dim(dim1)  # type: ignore[attr-defined]
        axes[a], axes[b] = axes[b], axes[a]
        return apply("transpose", self, axes=tuple(axes), label="TransposeBackward0")

    def permute(self, *dims: Any) -> Any:
        return apply("transpose", self, axes=_sizes(dims), label="PermuteBackward0")

    def squeeze(self, dim: int | None = None) -> Any:
        if dim is None:
            return apply("squeeze", self)
        d = self._dim(dim)  # type: ignore[attr-defined]
        if self._array.ndim == 0 or self._array.shape[d] != 1:  # type: ignore[attr-defined]
            return apply("reshape", self, shape=self._array.shape)  # type: ignore[attr-defined]
        return apply("squeeze", self, axis=d)

    def unsqueeze(self, dim: int) -> Any:
        ndim = self._array.ndim + 1  # type: ignore[attr-defined]
        if not -ndim <= dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-ndim}, {ndim - 1}], but got {dim})")
        return apply("unsqueeze", self, axis=dim % ndim)

    def expand(self, *sizes: Any) -> Any:
        """A broadcast view (no copy); -1 keeps a dimension's size."""
        target = list(_sizes(sizes))
        shape = self._array.shape  # type: ignore[attr-defined]
        lead = len(target) - len(shape)
        for i, d in enumerate(shape):
            if target[lead + i] == -1:
                target[lead + i] = d
        return apply("broadcast_to", self, shape=tuple(target))

    def expand_as(self, other: Any) -> Any:
        return self.expand(tuple(other.shape))

    def repeat(self, *sizes: Any) -> Any:
        """Tiles the tensor: size (a, b) repeated (r, s) has size (r*a, s*b)."""
        reps = _sizes(sizes)
        shape = (1,) * (len(reps) - self._array.ndim) + self._array.shape  # type: ignore[attr-defined]
        if len(reps) < len(shape):
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                               "number of dimensions of tensor")
        # (a, b) -> (1, a, 1, b) -> broadcast to (r, a, s, b) -> (r*a, s*b)
        spread = tuple(v for d in shape for v in (1, d))
        tiled = tuple(v for r, d in zip(reps, shape, strict=True) for v in (r, d))
        x = apply("reshape", self, shape=spread)
        x = apply("broadcast_to", x, shape=tiled)
        return apply("reshape", apply("copy", x),
                     shape=tuple(r * d for r, d in zip(reps, shape, strict=True)))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Any, ...]:
        """Views of consecutive pieces of ``split_size`` (or of the listed sizes) along ``dim``."""
        d = self._dim(dim)  # type: ignore[attr-defined]
        size = self._array.shape[d]  # type: ignore[attr-defined]
        split = split_size if isinstance(split_size, int) else list(split_size)
        return tuple(apply("getitem", self, index=idx)
                     for idx in composites.split_indices(size, split, d))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Any, ...]:
        size = self._array.shape[self._dim(dim)]  # type: ignore[attr-defined]
        return self.split(max(1, -(-size // chunks)), dim)

    def unbind(self, dim: int = 0) -> tuple[Any, ...]:
        d = self._dim(dim)  # type: ignore[attr-defined]
        return tuple(self.select(d, i) for i in range(self._array.shape[d]))  # type: ignore[attr-defined]

    def select(self, dim: int, index: int) -> Any:
        d = self._dim(dim)  # type: ignore[attr-defined]
        return apply("getitem", self, index=encode_index((slice(None),) * d + (index,)),
                     label="SelectBackward0")

    # ---- indexing ---------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Any:
        if type(index) is tuple or type(index) is int or type(index) is slice:
            # the usual x[i] / x[:, t] / x[a:b]: numpy's view at once (fast_ops.basic_index)
            found = _basic_items(index if type(index) is tuple else (index,))
            if found is not None:
                return basic_index(self, found[0], found[1], "SelectBackward0" if type(
                    index) is int else "SliceBackward0")
        kind, value = _classify(index)
        if kind == "basic":
            label = "SelectBackward0" if isinstance(index, int) else "SliceBackward0"
            return apply_packed(_GETITEM, (self,), {"index": value}, label)
        if kind == "mask":
            return apply("mask_select", self, value, label="IndexBackward0")
        if kind == "several":
            return take_several(self, *value)
        axis, indices = value
        return apply("take", self, indices, axis=axis, label="IndexBackward0")

    def __setitem__(self, index: Any, value: Any) -> None:
        """In place: basic indices and boolean masks (recorded), integer tensors (not)."""
        kind, where = _classify(index)
        if kind == "basic":
            apply_("index_assign", self, value, index=where, label="CopySlices")
            return
        if kind == "mask":
            mask = where
            extra = self._array.ndim - mask.ndim  # type: ignore[attr-defined]
            wide = apply("reshape", mask, shape=tuple(mask.shape) + (1,) * extra) if extra else mask
            if _is_tensor(value) and value.ndim > 0 and tuple(value.shape) != tuple(self.shape):  # type: ignore[attr-defined]
                value = apply("mask_scatter", value, mask, self)
            self.copy_(apply("where", wide, value, self))  # type: ignore[attr-defined]
            return
        check_inplace(self)
        axis, indices = where
        if self._requires_grad or (_is_tensor(value) and value._requires_grad):  # type: ignore[attr-defined]
            raise RuntimeError("assignment through an integer-tensor index is not recorded by "
                               "tapeflow's tape; use a boolean mask or index_assign instead")
        array = self._array  # type: ignore[attr-defined]
        if kind == "several":  # x[rows, cols] = v (dynamic/index_multi.py)
            axis, indices = 0, write_index(self, *where)
        moved = array_module(array).moveaxis(array, axis, 0) if axis else array
        moved[indices._array if _is_tensor(indices) else indices] = (
            value._array if _is_tensor(value) else value)
        self._vc[0] += 1  # type: ignore[attr-defined]


def _basic_items(items: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """For an index of ints, slices, None and ... only: the getitem op's encoded index
    (:func:`~tapeflow.runtime.ops_index.encode_index`'s) and the numpy index it decodes to,
    with a trailing ... added where there is none (it keeps x[0] of a vector a 0-d view);
    None for any other index. One pass, no lists (the slow path below makes them)."""
    encoded: tuple[Any, ...] = ()
    for item in items:
        kind = type(item)
        if kind is slice:
            step = item.step
            if step is not None and step <= 0:
                raise ValueError("step must be greater than zero")
            encoded += (("slice", item.start, item.stop, step),)
        elif kind is int or item is None or item is Ellipsis:
            encoded += (item,)
        else:
            return None
    if Ellipsis not in items:
        return encoded + (Ellipsis,), items + (Ellipsis,)
    return encoded, items


def _basic_index(items: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The encoded index when every item is an int, a slice, None or ..., else None."""
    found = _basic_items(items)
    return None if found is None else found[0]


def _classify(index: Any) -> tuple[str, Any]:
    """'basic' (an encoded view index), 'mask' (a bool tensor) or 'take' ((axis, indices))."""
    if type(index) is tuple or type(index) is int or type(index) is slice:
        # the usual x[i] / x[:, t] / x[a:b]: ints and slices only (checked as the slow path
        # below does, without building lists)
        found = _basic_index(index if type(index) is tuple else (index,))
        if found is not None:
            return "basic", found
    from .creation import tensor as make_tensor

    items = index if isinstance(index, tuple) else (index,)
    special = [i for i, item in enumerate(items)
               if _is_tensor(item) or isinstance(item, (list, range, np.ndarray))]
    if not special:
        for item in items:
            if isinstance(item, slice) and item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
        if not any(item is Ellipsis for item in items):
            # a trailing ... keeps x[0] of a vector a 0-d view, not a copied numpy scalar
            items = tuple(items) + (Ellipsis,)
        return "basic", encode_index(tuple(items))
    several = advanced_items(items, special)  # x[rows, cols], x[0, cols]
    if several is not None:
        return "several", several
    if len(special) > 1:
        raise IndexError("tapeflow supports several index arrays only side by side, with "
                         "full slices ':' around them")
    at = special[0]
    item = items[at]
    if not _is_tensor(item):
        item = make_tensor(np.asarray(item))
    rest = items[:at] + items[at + 1:]
    if any(not (isinstance(r, slice) and r == slice(None)) for r in rest) or (
            item.dtype.is_bool and at != 0):
        raise IndexError("tapeflow supports a tensor index mixed only with full slices ':'")
    if item.dtype.is_bool:
        return "mask", item
    if not item.dtype.is_integer:
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return "take", (at, item)
