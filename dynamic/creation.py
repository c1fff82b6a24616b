"""Creating tensors: ``tensor``, ``zeros``, ``rand``, ``arange``, ``from_numpy``, the legacy
``FloatTensor``-style constructors, and the seeded generator behind random draws.

Filled and random tensors come from the registry's creation ops (``full``, ``arange``,
``eye``, ``random_uniform``, ``random_normal``) so both front ends draw the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import Generator, get
from ..runtime import dtypes as dt
from ..runtime.memory import too_large
from ..runtime.shapes import check_rank, int_dims
from .device import CPU, as_device, device_of_array, move, xp_of
from .dispatch import wrap

#: The default generator (``manual_seed`` resets it); nn initialisers draw from it too.
default_generator = Generator(seed=0)


def manual_seed(seed: int) -> Generator:
    """Seeds every random draw (``rand``, ``randn``, layer initialisation).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> _ = torch.manual_seed(0); a = torch.rand(2)
        >>> _ = torch.manual_seed(0); b = torch.rand(2)
        >>> a.tolist() == b.tolist()
        True
    """
    default_generator.manual_seed(int(seed))
    return default_generator


def _finish(array: Any, requires_grad: bool) -> Any:
    t = wrap(array)
    if requires_grad:
        t.requires_grad = True  # the property checks the dtype, with PyTorch's message
    return t


def _sizes(size: tuple[Any, ...], op: str = "zeros") -> tuple[int, ...]:
    # f(2, 3) or f((2, 3)); PyTorch's TypeError for a float or bool (zeros(2.5) is refused,
    # not truncated to 2), and a clear error past numpy's rank limit
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return int_dims(size, f"{op}(): argument 'size' (position 1)")


def check_size(op: str, attrs: dict[str, Any]) -> None:
    """PyTorch's errors for a negative or absurd size, raised before anything is allocated."""
    shape = attrs.get("shape")
    if shape is not None:
        check_rank(op, shape)
    if shape is not None and any(d < 0 for d in shape):
        bad = next(d for d in shape if d < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: "
                           f"{list(shape)}")
    spec = get(op).infer(**attrs)
    why = too_large(spec.shape, spec.dtype.itemsize)
    if why is not None:
        raise RuntimeError(f"{op}: not enough memory: you tried to allocate {why} for a "
                           f"tensor of shape {list(spec.shape)} and dtype {spec.dtype.name}")


def _create(op: str, device: Any, requires_grad: bool, **attrs: Any) -> Any:
    dev = as_device(device)
    check_size(op, attrs)
    array = get(op).kernel(xp_of(dev), **attrs)
    return _finish(array, requires_grad)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Any:
    """A new tensor holding a copy of ``data`` (a number, nested list, array or tensor).

    Floats become float32 and ints int64 unless ``dtype`` says otherwise.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.tensor([[1, 2], [3, 4]]).dtype
        tapeflow.int64
    """
    if hasattr(data, "_array"):
        array = data._array.copy()
    elif isinstance(data, np.ndarray):
        array = data.copy()
    else:
        if isinstance(data, (list, tuple)) and any(hasattr(d, "_array") for d in data):
            data = [d.tolist() if hasattr(d, "_array") else d for d in data]
        array = _from_python(data, None if dtype is None else dt.as_dtype(dtype))
    if dtype is not None:
        array = array.astype(dt.as_dtype(dtype).np)
    elif array.dtype not in {d.np for d in dt.ALL}:
        array = array.astype(dt.infer_from_data(array).np)
    if device is not None or not isinstance(array, np.ndarray):
        array = move(array, as_device(device) if device is not None else device_of_array(array))
    if not array.flags.c_contiguous:
        array = array.copy()  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    return _finish(array, requires_grad)


def _from_python(data: Any, dtype: dt.DType | None) -> np.ndarray:
    """Python numbers as an array of ``dtype`` (PyTorch's inference when None), converted
    once from numpy's own reading of them, so float64 keeps its precision and values an
    integer dtype cannot hold raise PyTorch's overflow error instead of wrapping around."""
    try:
        raw = np.array(data)
    except ValueError as exc:
        raise ValueError(_ragged(data, 0) or str(exc)) from None
    huge = raw.dtype == object and raw.size > 0 and all(type(v) is int for v in raw.flat)
    target = dtype or (dt.int64 if huge else dt.infer_from_data(raw))
    check_overflow(raw, target)
    return raw.astype(target.np)


def check_overflow(values: np.ndarray, dtype: dt.DType) -> None:
    """PyTorch's RuntimeError when Python ``values`` do not fit integer ``dtype`` (negative
    values may wrap into an unsigned dtype, as PyTorch lets them; floats may round)."""
    if not dtype.is_integer or values.size == 0:
        return
    info = np.iinfo(dtype.np)
    low = info.min if info.min < 0 else np.iinfo(np.int64).min
    if values.dtype == object:
        ints = [v for v in values.flat if type(v) is int]
        bad = any(v < low or v > info.max for v in ints)
    else:
        bad = values.dtype.kind in "iuf" and bool(values.min() < low or values.max() > info.max)
    if bad:
        raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")


def _ragged(data: Any, dim: int) -> str | None:
    """PyTorch's words for nested lists whose lengths differ (None when that is not it)."""
    if not isinstance(data, (list, tuple)) or not data:
        return None
    lengths = [len(x) if isinstance(x, (list, tuple)) else None for x in data]
    for item, got in zip(data[1:], lengths[1:], strict=True):
        if got != lengths[0]:
            if got is None or lengths[0] is None:
                return (f"expected every element at dim {dim} to be a sequence, or none of "
                        f"them (got {type(data[0]).__name__} and {type(item).__name__})")
            return f"expected sequence of length {lengths[0]} at dim {dim + 1} (got {got})"
    for item in data:
        found = _ragged(item, dim + 1)
        if found is not None:
            return found
    return None


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Any:
    if hasattr(data, "_array") and dtype is None and device is None:
        return data
    if isinstance(data, np.ndarray) and dtype is None and device is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


#: the numpy dtypes a tensor may have (from_numpy's check, once per call: built once)
_NUMPY_DTYPES = frozenset(d.np for d in dt.ALL)


def from_numpy(array: np.ndarray) -> Any:
    """A tensor over the numpy array's own memory (no copy).

    Example:
        >>> import numpy as np, tapeflow.dynamic as torch
        >>> a = np.zeros(3); t = torch.from_numpy(a); t[0] = 5
        >>> float(a[0])
        5.0
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if not array.dtype.isnative:  # (PyTorch's error: sharing memory rules out a byte swap)
        raise ValueError("given numpy array has byte order different from the native byte "
                         "order. Conversion between byte orders is currently not supported "
                         "(convert it first: array.astype(array.dtype.newbyteorder('=')))")
    if array.dtype not in _NUMPY_DTYPES:  # an error here, not later
        raise TypeError(f"can't convert np.ndarray of type {array.dtype}. The only supported "
                        f"types are: {', '.join(d.name for d in dt.ALL)}.")
    return wrap(array)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Any:
    if dtype is None:
        dtype = dt.infer_from_data(fill_value)
    if isinstance(fill_value, (int, float)):
        check_overflow(np.array(fill_value), dt.as_dtype(dtype))
    return _create("full", device, requires_grad, shape=_sizes((size,), "full"), value=fill_value,
                   dtype=dt.as_dtype(dtype))


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Any:
    if device is None and not requires_grad and (dtype is None or type(dtype) is dt.DType) and (
            (len(size) == 2 and type(size[0]) is int and type(size[1]) is int
             and 0 <= size[0] < 32768 and 0 <= size[1] < 32768)
            or (len(size) == 1 and type(size[0]) is int and 0 <= size[0] < 32768)):
        # the common case (an RNN's initial state each step): one or two int sizes on the host,
        # so no error to raise and far below the size limit; the same zeros as full()'s (7 µs
        # of checks and dispatch against 1)
        return wrap(np.zeros(size, (dtype or dt.float32).np))
    return full(_sizes(size), 0, dtype=dtype or dt.float32, device=device,
                requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Any:
    return full(_sizes(size, "ones"), 1, dtype=dtype or dt.float32, device=device,
                requires_grad=requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Any:
    # "uninitialised" in PyTorch; zero-filled here, which is one of the values it may hold
    return zeros(_sizes(size, "empty"), dtype=dtype, device=device, requires_grad=requires_grad)


def _random(kind: str, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool,
            a: float, b: float, generator: Generator | None = None) -> Any:
    dtype = dt.as_dtype(dtype or dt.float32)
    op = get(f"random_{kind}")
    shape = _sizes(size, "rand" if kind == "uniform" else "randn")
    attrs = {"shape": shape, "dtype": dtype, "a": a, "b": b,
             "generator": generator or default_generator}
    check_size(op.name, attrs)
    # draws come from the host generator (one seed, the same numbers on every device)
    array = op.kernel(np, **attrs)
    dev = as_device(device)
    return _finish(move(array, dev) if dev != CPU else array, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator: Generator | None = None) -> Any:
    """Uniform draws from [0, 1) of the given size."""
    return _random("uniform", size, dtype, device, requires_grad, 0.0, 1.0, generator)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          generator: Generator | None = None) -> Any:
    """Standard normal draws of the given size."""
    return _random("normal", size, dtype, device, requires_grad, 0.0, 1.0, generator)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None,
            device: Any = None) -> Any:
    if high is None:
        low, high = 0, low
    array = default_generator.integers(_sizes((size,), "randint"), low, high,
                                       dt.as_dtype(dtype or dt.int64))
    return _finish(move(array, as_device(device)), False)


def randperm(n: int, dtype: Any = None, device: Any = None, requires_grad: bool = False,
             generator: Generator | None = None) -> Any:
    """A random ordering of ``0 .. n-1`` (int64 by default), from the seeded generator.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> _ = torch.manual_seed(0)
        >>> sorted(torch.randperm(4).tolist())
        [0, 1, 2, 3]
    """
    order = (generator or default_generator).permutation(int(n))
    array = order.astype(dt.as_dtype(dtype or dt.int64).np)
    return _finish(move(array, as_device(device)), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Any:
    """``start, start+step, ...`` below ``end`` (int64 for ints, float32 otherwise)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dt.infer_from_data([start, end, step])
    return _create("arange", device, requires_grad, start=start, stop=end, step=step,
                   dtype=dt.as_dtype(dtype))


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Any:
    return _create("eye", device, requires_grad, n=n, m=m, dtype=dt.as_dtype(dtype or dt.float32))


def _like(name: str):
    def like(input: Any, *args: Any, dtype: Any = None, device: Any = None,  # noqa: A002
             requires_grad: bool = False) -> Any:
        dtype = dtype or input.dtype
        device = device or input.device
        if name == "full":
            return full(tuple(input.shape), args[0], dtype=dtype, device=device,
                        requires_grad=requires_grad)
        maker = {"zeros": zeros, "ones": ones, "empty": empty, "rand": rand, "randn": randn}[name]
        return maker(tuple(input.shape), dtype=dtype, device=device, requires_grad=requires_grad)

    like.__name__ = f"{name}_like"
    like.__doc__ = f"``{name}`` with the shape (and by default dtype and device) of ``input``."
    return like


zeros_like, ones_like, empty_like = _like("zeros"), _like("ones"), _like("empty")
full_like, rand_like, randn_like = _like("full"), _like("rand"), _like("randn")


# ---- legacy constructors: torch.FloatTensor(2, 3), torch.LongTensor([1, 2]) --------------------


def legacy_new(args: tuple[Any, ...], dtype: dt.DType, device: Any = None) -> Any:
    """``Tensor(*sizes)`` (uninitialised) or ``Tensor(data)`` with a fixed dtype."""
    if len(args) == 1 and not isinstance(args[0], int):
        data = args[0]
        if hasattr(data, "shape") and not hasattr(data, "_array") and not isinstance(
                data, np.ndarray):
            return empty(tuple(data), dtype=dtype, device=device)
        return tensor(data, dtype=dtype, device=device)
    return empty(_sizes(args), dtype=dtype, device=device)


class _LegacyType(type):
    """The metaclass of ``FloatTensor`` and friends: calling one makes a tensor of its dtype,
    and ``isinstance(t, torch.FloatTensor)`` checks the dtype."""

    _dtype: dt.DType

    def __call__(cls, *args: Any, device: Any = None) -> Any:  # type: ignore[override]
        return legacy_new(args, cls._dtype, device)

    def __instancecheck__(cls, obj: Any) -> bool:
        return hasattr(obj, "_array") and obj.dtype is cls._dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


LEGACY = {name: _LegacyType(name, (), {"_dtype": d}) for name, d in dt.LEGACY_TENSOR_TYPES.items()}
FloatTensor, DoubleTensor, HalfTensor = LEGACY["FloatTensor"], LEGACY["DoubleTensor"], LEGACY[
    "HalfTensor"]
ByteTensor, CharTensor, ShortTensor = LEGACY["ByteTensor"], LEGACY["CharTensor"], LEGACY[
    "ShortTensor"]
IntTensor, LongTensor, BoolTensor = LEGACY["IntTensor"], LEGACY["LongTensor"], LEGACY["BoolTensor"]
