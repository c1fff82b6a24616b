"""``tf.TensorArray``: a list of same-shaped tensors that a loop writes one element at a time.

Here a TensorArray is functional, as TF1's is underneath (each ``write`` returns a new
TensorArray, and the old one must not be used): it wraps one tensor, the *buffer*, of shape
``(size, *element_shape)``. ``write(i, v)`` is a registry ``scatter_along`` of ``v`` into row
``i``, ``read(i)`` a ``gather`` of row ``i``; ``stack`` returns the buffer and ``unstack``
makes one from a tensor. In ``tf.while_loop`` a TensorArray may be a loop variable: the loop
carries its buffer. Gradients flow through both ops' registry rules.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     ta = tf.TensorArray(tf.float32, size=3, element_shape=[2])
    ...     _, ta = tf.while_loop(lambda i, ta: i < 3,
    ...                           lambda i, ta: (i + 1, ta.write(i, tf.fill([2], 1.0) * 2.0)),
    ...                           [tf.constant(0), ta])
    ...     print(tf.Session().run(ta.stack()))
    [[2. 2.]
     [2. 2.]
     [2. 2.]]
"""

from __future__ import annotations

from typing import Any

from ..runtime import dtypes as dt
from .ops import add, cast, gather, reduce_sum
from .sources import call, convert_to_tensor, zeros
from .tensor import Tensor, TensorShape

__all__ = ["TensorArray"]


class TensorArray:
    """A fixed-size array of tensors of one shape and dtype, written and read by index.

    Args:
        dtype: the elements' dtype.
        size: the number of elements (a Python int here; ``unstack`` takes any length).
        element_shape: the elements' shape; needed before the first ``write`` in a loop.
        dynamic_size, clear_after_read, infer_shape, name: accepted for TF1's signature.
    """

    def __init__(self, dtype: Any, size: Any = None, dynamic_size: bool = False,
                 clear_after_read: bool = True, element_shape: Any = None,
                 infer_shape: bool = True, name: str | None = None, *,
                 buffer: Tensor | None = None) -> None:
        self.dtype = dt.as_dtype(dtype)
        self._size = size
        self._element_shape = TensorShape(element_shape)
        self.buffer = buffer
        if buffer is None and isinstance(size, int) and self._element_shape.is_fully_defined():
            self.buffer = zeros([size, *self._element_shape.as_list()], self.dtype)

    def _like(self, buffer: Tensor) -> TensorArray:
        return TensorArray(self.dtype, self._size, element_shape=self._element_shape,
                           buffer=buffer)

    def _needs_buffer(self, what: str) -> Tensor:
        if self.buffer is None:
            raise ValueError(f"TensorArray.{what}: the array has no elements yet; give it an "
                             "int size and a fully defined element_shape, or unstack a tensor")
        return self.buffer

    def write(self, index: Any, value: Any, name: str | None = None) -> TensorArray:
        """A new TensorArray with ``value`` at ``index`` (TF1: use the returned array)."""
        buffer = self._needs_buffer("write")
        value = convert_to_tensor(value, dtype=self.dtype)
        row = value[None]
        # an index of the row's shape, every entry ``index``: scatter_along's form
        where = add(call("full_like", [row], {"value": 0, "dtype": dt.int64}),
                    cast(index, dt.int64))
        return self._like(call("scatter_along", [buffer, where, row], {"axis": 0},
                               name=name, type_="TensorArrayWriteV3"))

    def read(self, index: Any, name: str | None = None) -> Tensor:
        """The element at ``index``."""
        return gather(self._needs_buffer("read"), index, name=name)

    def stack(self, name: str | None = None) -> Tensor:
        """Every element, stacked on a new first axis."""
        return self._needs_buffer("stack")

    def unstack(self, value: Any, name: str | None = None) -> TensorArray:
        """A TensorArray whose elements are the rows of ``value``."""
        return self._like(convert_to_tensor(value, dtype=self.dtype))

    def size(self, name: str | None = None) -> Tensor:
        """The number of elements, as an int32 scalar tensor."""
        buffer = self._needs_buffer("size")
        first = buffer[(slice(None),) + (0,) * (buffer.shape.ndims - 1)]
        return reduce_sum(call("full_like", [first], {"value": 1, "dtype": dt.int32}))

    def __repr__(self) -> str:
        return f"<TensorArray {self.dtype.name} buffer={self.buffer}>"
