"""The dtype table shared by both front ends, and the promotion rules.

Promotion (written down once, used by both modes):

1. Categories rank bool < integer < floating.
2. Two tensors: the higher category wins; within one category the wider type wins
   (numpy's ``promote_types``, so int8 with uint8 gives int16).
   Unlike numpy, an integer tensor with a float tensor gives *that float's* dtype
   (int64 + float32 -> float32), as in PyTorch.
3. A Python scalar never widens a tensor of its own or a higher category
   (float32 tensor * 2.5 stays float32). A scalar of a higher category than the
   tensor lifts it to that category's default (int tensor * 2.5 -> float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class DType:
    """A tapeflow dtype: a named wrapper over one numpy dtype.

    Example:
        >>> from tapeflow.runtime import dtypes
        >>> dtypes.float32.itemsize
        4
    """

    name: str
    np: np.dtype

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    @property
    def is_floating(self) -> bool:
        return self.np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.np.kind == "b"

    @property
    def category(self) -> int:
        return 2 if self.is_floating else 1 if self.is_integer else 0

    def __repr__(self) -> str:
        return f"tapeflow.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self is other
        try:
            return self is as_dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


float16 = DType("float16", np.dtype(np.float16))
float32 = DType("float32", np.dtype(np.float32))
float64 = DType("float64", np.dtype(np.float64))
uint8 = DType("uint8", np.dtype(np.uint8))
int8 = DType("int8", np.dtype(np.int8))
int16 = DType("int16", np.dtype(np.int16))
int32 = DType("int32", np.dtype(np.int32))
int64 = DType("int64", np.dtype(np.int64))
bool_ = DType("bool", np.dtype(np.bool_))

ALL: tuple[DType, ...] = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
FLOATING: tuple[DType, ...] = (float16, float32, float64)
_BY_NUMPY = {d.np: d for d in ALL}

#: Aliases people type: PyTorch short names and TF1 strings.
ALIASES: dict[str, DType] = {
    **{d.name: d for d in ALL},
    "float": float32,
    "double": float64,
    "half": float16,
    "long": int64,
    "int": int32,
    "short": int16,
    "char": int8,
    "byte": uint8,
    "bool_": bool_,
}

#: PyTorch's legacy tensor-type names and the dtype each one means.
LEGACY_TENSOR_TYPES: dict[str, DType] = {
    "FloatTensor": float32,
    "DoubleTensor": float64,
    "HalfTensor": float16,
    "ByteTensor": uint8,
    "CharTensor": int8,
    "ShortTensor": int16,
    "IntTensor": int32,
    "LongTensor": int64,
    "BoolTensor": bool_,
}

DEFAULT_FLOAT = float32
DEFAULT_INT = int64

#: What converting a user's value to an array of a given dtype can raise: TypeError or
#: ValueError (a string for a float, a ragged list) and numpy's OverflowError for a Python
#: int outside the dtype's range (2**40 for int32), so callers can name the value at fault.
CONVERSION_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError, OverflowError)


def as_dtype(value: Any) -> DType:
    """Converts a DType, a name (``"float"``, ``"int32"``), a numpy dtype or a Python type.

    Example:
        >>> as_dtype("double")
        tapeflow.float64
    """
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        key = value.lower().removeprefix("torch.").removeprefix("tf.")
        if key in ALIASES:
            return ALIASES[key]
        raise TypeError(f"unknown dtype {value!r}; known: {', '.join(sorted(ALIASES))}")
    if value is float:
        return DEFAULT_FLOAT
    if value is int:
        return DEFAULT_INT
    if value is bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a tapeflow dtype") from None
    if npd in _BY_NUMPY:
        return _BY_NUMPY[npd]
    raise TypeError(f"dtype {npd} is not supported by tapeflow")


def of_array(array: Any) -> DType:
    """The tapeflow dtype of a numpy or cupy array."""
    return _BY_NUMPY[array.dtype]


def promote(a: DType, b: DType) -> DType:
    """The result dtype of a binary op between two tensors (rule 2 above)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _BY_NUMPY[np.promote_types(a.np, b.np)]


def scalar_category(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    if isinstance(value, (float, np.floating)):
        return 2
    raise TypeError(f"expected a Python number, got {type(value).__name__}")


def with_scalar(tensor_dtype: DType, value: Any) -> DType:
    """The result dtype of a tensor combined with a Python scalar (rule 3 above)."""
    category = scalar_category(value)
    if category <= tensor_dtype.category:
        return tensor_dtype
    return DEFAULT_FLOAT if category == 2 else DEFAULT_INT


def infer_from_data(data: Any) -> DType:
    """The dtype a nested list or scalar becomes when no dtype is given (PyTorch's rule)."""
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return DEFAULT_FLOAT
    if arr.dtype.kind in "iu":
        return DEFAULT_INT
    return as_dtype(arr.dtype)
