"""``torch.Tensor``: an eager tensor over a shared storage, with a place on the tape.

The three layers: a Tensor is (storage, shape, strides, offset); its ``_array`` is the
backend view that realises them; the :class:`~tapeflow.dynamic.storage.Storage` owns the
flat memory. The arithmetic, reduction and shape methods live in the two mixins; this
module holds what makes a tensor a tensor: its data, its device and dtype, and autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from . import dispatch, fast_ops
from .device import device, device_of_array
from .engine import run_backward, store_grads
from .size import Size
from .storage import Storage, address
from .tape import Node, RemovableHandle, accumulator
from .tensor_convert import TensorConvert
from .tensor_math import TensorMath
from .tensor_more import TensorMore
from .tensor_random import TensorRandom
from .tensor_shape import TensorShape

_HIDDEN_DTYPES = ("float32", "int64", "bool")


class Tensor(TensorMath, TensorMore, TensorRandom, TensorShape, TensorConvert):
    """A multi-dimensional array that can record its history for ``backward()``.

    ``Tensor(2, 3)`` is an uninitialised float32 tensor of that size; ``Tensor([1, 2])``
    copies a list (as float32). Most code uses :func:`tapeflow.dynamic.tensor` instead.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad.tolist()
        [2.0, 4.0]
    """

    __slots__ = ("_array", "_storage", "_base", "_vc", "_requires_grad", "_grad", "_grad_fn",
                 "_hooks", "_acc_ref", "_view_index", "__weakref__")

    #: numpy defers to our reflected operators (array * tensor gives a tensor)
    __array_priority__ = 1000

    def __init__(self, *args: Any, device: Any = None) -> None:
        from .creation import legacy_new

        made = legacy_new(args, dt.float32, device)
        for slot in Tensor.__slots__[:-1]:
            setattr(self, slot, getattr(made, slot))

    # ---- what the tensor is -------------------------------------------------------------

    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape (a ``torch.Size``), or the length of dimension ``dim``."""
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[self._dim(dim)]

    def dim(self) -> int:
        return self._array.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        return int(self._array.size)

    nelement = numel

    @property
    def dtype(self) -> dt.DType:
        return dt.of_array(self._array)

    @property
    def device(self) -> device:
        return device_of_array(self._array)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    def element_size(self) -> int:
        return int(self._array.itemsize)

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self._array.shape[0])

    def __iter__(self) -> Iterator[Tensor]:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._array.shape[0]))

    def _dim(self, dim: int) -> int:
        ndim = max(self._array.ndim, 1)
        if not -ndim <= dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-ndim}, {ndim - 1}], but got {dim})")
        return dim % ndim

    # ---- values out -----------------------------------------------------------------------

    def item(self) -> Any:
        array = self._array
        if type(array) is np.ndarray and not array.ndim:
            return array.item()  # (a loss: a 0-d array has the one element)
        if self._array.size != 1:
            raise RuntimeError(f"a Tensor with {self._array.size} elements cannot be converted "
                               "to Scalar")
        return self._array.reshape(()).item()

    def tolist(self) -> Any:
        array = self._array if isinstance(self._array, np.ndarray) else self._array.get()
        return array.tolist()

    def numpy(self) -> np.ndarray:
        """The tensor's own memory as a numpy array (no copy: writes show on both sides)."""
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if not isinstance(self._array, np.ndarray):
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() "
                            "to copy the tensor to host memory first.")
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self._array if isinstance(self._array, np.ndarray) else self._array.get()
        return array if dtype is None else array.astype(dtype)

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: bool | None = None) -> Any:
        """This tensor's memory as a DLPack capsule (``np.from_dlpack(t)`` shares it)."""
        from .dlpack import export

        return export(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        from .dlpack import device_of

        return device_of(self)

    def __float__(self) -> float:
        return float(self.item())

    def __format__(self, spec: str) -> str:
        # as PyTorch: a 0-d tensor formats as its Python number (f"{loss:.4f}")
        if self._array.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iu" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    __hash__ = object.__hash__

    # ---- the storage layer -----------------------------------------------------------------

    def storage(self) -> Storage:
        """The flat storage under this tensor (shared with its views, ``numpy()`` and ``.data``)."""
        if self._storage is None:
            self._storage = (self._base.storage() if self._base is not None
                             else Storage.of(self._array))
        return self._storage

    untyped_storage = storage

    def data_ptr(self) -> int:
        """Address of this tensor's first element (storage address + offset * itemsize)."""
        return address(self._array)

    def storage_offset(self) -> int:
        return (address(self._array) - self.storage().data_ptr()) // self._array.itemsize

    def stride(self, dim: int | None = None) -> Any:
        strides = tuple(s // self._array.itemsize for s in self._array.strides)
        return strides if dim is None else strides[self._dim(dim)]

    def is_contiguous(self) -> bool:
        return bool(self._array.flags.c_contiguous)

    # ---- autograd ---------------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. "
                                   "If you want to use a computed variable in a subgraph that "
                                   "doesn't require differentiation use "
                                   "var_no_grad = var.detach().")
            return
        if value and self._array.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require "
                               "gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and tuple(value.shape) != tuple(self._array.shape):
            raise RuntimeError(f"assigned grad has data of a different size: "
                               f"{list(value.shape)} vs {list(self._array.shape)}")
        self._grad = value

    @property
    def grad_fn(self) -> Node | None:
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def data(self) -> Tensor:
        """The same storage, detached, and with a version counter of its own (no tracking)."""
        out = dispatch.wrap(self._array)
        out._storage = self.storage()
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        # the tensor now shows value's memory; its autograd identity (a leaf, its grad) stays
        self._array = value._array
        self._storage = value._storage
        self._base = value._base

    def detach(self) -> Tensor:
        """A tensor sharing this one's storage and version counter, cut from the tape."""
        out = dispatch.wrap(self._array, None, self._vc)
        out._storage = self.storage()
        return out

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self._requires_grad = False
        return self

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Runs the reverse sweep from this tensor and accumulates into leaves' ``.grad``.

        Raises:
            RuntimeError: for a non-scalar output without ``gradient``, a graph already
                freed by an earlier backward, or a saved tensor changed in place.
        """
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is None:
            run_backward([self], [gradient], retain_graph, create_graph)
            return
        # only the listed tensors receive .grad (leaves or not), accumulated as usual
        targets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        grads = run_backward([self], [gradient], retain_graph, create_graph, inputs=targets,
                             allow_unused=True)
        assert grads is not None  # (a tuple whenever inputs are given)
        store_grads(targets, grads, create_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Calls ``hook(grad)`` when this tensor's gradient is computed (it may return a new one).

        Example:
            >>> import tapeflow.dynamic as torch
            >>> x = torch.ones(2, requires_grad=True)
            >>> handle = x.register_hook(lambda g: g * 10)
            >>> x.sum().backward(); x.grad.tolist()
            [10.0, 10.0]
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            return self._grad_fn.register_hook(hook)
        if self._hooks is None:
            self._hooks = []
        return RemovableHandle(self._hooks, hook)

    def retain_grad(self) -> None:
        """Keeps ``.grad`` on a non-leaf tensor too."""
        if self._grad_fn is None:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(grad: Tensor) -> None:
            owner = ref()
            if owner is not None:
                owner._grad = grad.detach() if owner._grad is None else owner._grad + grad

        self._grad_fn.register_hook(keep)

    @property
    def grad_accumulator(self) -> Any:
        return accumulator(self) if self._requires_grad and self._grad_fn is None else None

    #: runtime.R calls inside gradient rules land here: rules compute on Tensors (bound
    #: directly, no wrapper frame: this runs for every op a gradient rule makes)
    __tapeflow_apply__ = staticmethod(dispatch.apply_packed)

    # ---- printing ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        array = np.asarray(self.__array__())
        options: dict[str, Any] = {}
        if array.dtype.kind == "f" and array.size:
            finite = array[np.isfinite(array)]
            if finite.size and not np.all(finite == np.round(finite)):
                options = {"precision": 4, "floatmode": "fixed"}  # PyTorch prints 4 decimals
        body = np.array2string(array, separator=", ", prefix="tensor(", threshold=1000,
                               edgeitems=3, **options)
        extras = []
        if self.is_cuda:
            extras.append("device='cuda:0'")
        if self.dtype.name not in _HIDDEN_DTYPES or array.size == 0:
            extras.append(f"dtype={self.dtype!r}")  # as x.dtype prints it
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__


dispatch.bind(Tensor)
fast_ops.bind(Tensor)
