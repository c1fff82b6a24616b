"""Moving and converting tensors (a mixin of Tensor): ``to``, ``cpu``, ``cuda``, ``float``,
``long``, ``type`` ... A dtype change is the registry's ``cast`` op (so it is recorded and
differentiable); a device change copies the memory to the other backend."""

from __future__ import annotations

from typing import Any

from ..runtime import dtypes as dt
from . import dispatch
from .device import as_device, device, move


class TensorConvert:
    """Device moves and dtype casts; mixed into Tensor."""

    __slots__ = ()

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        target_dtype = kwargs.get("dtype")
        target_device = kwargs.get("device")
        for a in args:
            if isinstance(a, dispatch.Tensor):
                target_dtype, target_device = a.dtype, a.device
            elif isinstance(a, (device,)) or (isinstance(a, str) and a.split(":")[0] in
                                               ("cpu", "cuda", "gpu")):
                target_device = a
            elif a is not None:
                target_dtype = a
        out = self
        if target_device is not None:
            dev = as_device(target_device)
            if dev != self.device:
                if self._grad_fn is not None:
                    raise RuntimeError("moving a tensor that is part of a recorded graph to "
                                       "another device is not supported; detach() it first")
                out = dispatch.wrap(move(self._array, dev))
                out._requires_grad = self._requires_grad
        if target_dtype is not None and dt.as_dtype(target_dtype) is not out.dtype:
            out = dispatch.apply("cast", out, dtype=dt.as_dtype(target_dtype))
        return out

    def cpu(self) -> Any:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Any:
        return self.to("cuda")

    def type(self, dtype: Any = None) -> Any:
        """Without an argument, the legacy type name ('torch.FloatTensor'); else a cast."""
        if dtype is None:
            name = next(k for k, v in dt.LEGACY_TENSOR_TYPES.items() if v is self.dtype)
            return ("torch.cuda." if self.is_cuda else "torch.") + name
        if isinstance(dtype, str) and dtype.split(".")[-1] in dt.LEGACY_TENSOR_TYPES:
            dtype = dt.LEGACY_TENSOR_TYPES[dtype.split(".")[-1]]
        dtype = getattr(dtype, "_dtype", dtype)
        return self.to(dtype)

    def float(self) -> Any:
        return self.to(dt.float32)

    def double(self) -> Any:
        return self.to(dt.float64)

    def half(self) -> Any:
        return self.to(dt.float16)

    def long(self) -> Any:
        return self.to(dt.int64)

    def int(self) -> Any:
        return self.to(dt.int32)

    def short(self) -> Any:
        return self.to(dt.int16)

    def char(self) -> Any:
        return self.to(dt.int8)

    def byte(self) -> Any:
        return self.to(dt.uint8)

    def bool(self) -> Any:
        return self.to(dt.bool_)

    def type_as(self, other: Any) -> Any:
        return self.to(other.dtype)

    # ---- new tensors with this one's dtype and device: new_ones, new_zeros, new_full ... ----

    def _new_kwargs(self, dtype: Any, device: Any) -> dict[str, Any]:
        return {"dtype": self.dtype if dtype is None else dtype,  # type: ignore[attr-defined]
                "device": self.device if device is None else device}  # type: ignore[attr-defined]

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Any:
        """A copy of ``data`` with this tensor's dtype and device (unless given)."""
        from .creation import tensor

        return tensor(data, requires_grad=requires_grad, **self._new_kwargs(dtype, device))

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:
        from .creation import full

        return full(size, fill_value, requires_grad=requires_grad,
                    **self._new_kwargs(dtype, device))

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        """Zeros of ``size`` with this tensor's dtype and device (unless given).

        Example:
            >>> import tapeflow.dynamic as torch
            >>> torch.ones(2, dtype=torch.float64).new_zeros(3).dtype
            tapeflow.float64
        """
        from .creation import zeros

        return zeros(*size, requires_grad=requires_grad, **self._new_kwargs(dtype, device))

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Any:
        from .creation import ones

        return ones(*size, requires_grad=requires_grad, **self._new_kwargs(dtype, device))

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Any:
        from .creation import empty

        return empty(*size, requires_grad=requires_grad, **self._new_kwargs(dtype, device))
