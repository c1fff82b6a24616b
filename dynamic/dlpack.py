"""DLPack exchange: tensors go to and come from numpy, PyTorch, cupy... without a copy.

``Tensor.__dlpack__``/``__dlpack_device__`` hand out the backend array's own DLPack capsule
(numpy on CPU, cupy on CUDA), so ``np.from_dlpack(t)`` or ``torch.from_dlpack(t)`` see the
tensor's memory. :func:`from_dlpack` goes the other way: any object with ``__dlpack__`` (or
a legacy ``dltensor`` capsule from ``torch.utils.dlpack.to_dlpack``) becomes a Tensor over
the producer's memory, so a write on either side shows on the other.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from ..runtime import backend
from ..runtime import dtypes as dt
from .dispatch import wrap

# DLPack device types (dlpack.h, DLDeviceType)
KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED = 1, 2, 3, 13
_HOST = (KDL_CPU, KDL_CUDA_HOST)
_CUDA = (KDL_CUDA, KDL_CUDA_MANAGED)


def export(tensor: Any, stream: Any = None, max_version: Any = None, dl_device: Any = None,
           copy: bool | None = None) -> Any:
    """The DLPack capsule of ``tensor``'s memory (``Tensor.__dlpack__`` calls this)."""
    if tensor.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    options = {"stream": stream, "max_version": max_version, "dl_device": dl_device,
               "copy": copy}
    given = {k: v for k, v in options.items() if v is not None}
    return tensor._array.__dlpack__(**given)


def device_of(tensor: Any) -> tuple[int, int]:
    """``(device_type, device_id)`` as DLPack numbers them (``Tensor.__dlpack_device__``)."""
    device_type, device_id = tensor._array.__dlpack_device__()
    return int(device_type), int(device_id)


def to_dlpack(tensor: Any) -> Any:
    """A legacy DLPack capsule of ``tensor`` (``torch.utils.dlpack.to_dlpack``)."""
    return export(tensor)


class _Capsule:
    """Presents a bare ``dltensor`` capsule as a DLPack producer (consumers want one)."""

    def __init__(self, capsule: Any, device: tuple[int, int]) -> None:
        self._capsule = capsule
        self._device = device

    def __dlpack__(self, **_: Any) -> Any:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device


def _capsule_device(capsule: Any) -> tuple[int, int]:
    """The device stored in a legacy capsule's DLTensor (its second field, after ``data``)."""
    is_valid = ctypes.pythonapi.PyCapsule_IsValid
    is_valid.restype, is_valid.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]
    if not is_valid(capsule, b"dltensor"):
        raise BufferError("from_dlpack: this capsule is not an unused 'dltensor' DLPack capsule "
                          "(a capsule can be consumed only once)")
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object,
                                                                  ctypes.c_char_p]
    address = get_pointer(capsule, b"dltensor")
    fields = (ctypes.c_int32 * 2).from_address(address + ctypes.sizeof(ctypes.c_void_p))
    return int(fields[0]), int(fields[1])


class _Interface:
    """The same memory as ``array``, described as writable; keeps ``array`` (and the
    capsule that owns the memory) alive for as long as the new array exists."""

    def __init__(self, array: np.ndarray) -> None:
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface
        self._keep = array


def _writable(array: np.ndarray) -> np.ndarray:
    # numpy marks arrays from legacy capsules read-only, since an unversioned capsule cannot
    # say whether its producer allows writes; PyTorch treats such capsules as writable
    return np.asarray(_Interface(array))


def from_dlpack(ext_tensor: Any) -> Any:
    """A Tensor over the memory of any DLPack producer (no copy).

    Accepts numpy and cupy arrays, PyTorch tensors, tapeflow tensors, anything with
    ``__dlpack__``, and legacy ``dltensor`` capsules.

    Example:
        >>> import numpy as np, tapeflow.dynamic as torch
        >>> a = np.zeros(3, dtype=np.float32)
        >>> t = torch.from_dlpack(a); t[1] = 7
        >>> a.tolist()
        [0.0, 7.0, 0.0]
    """
    source = ext_tensor
    if type(ext_tensor).__name__ == "PyCapsule":
        source = _Capsule(ext_tensor, _capsule_device(ext_tensor))
    elif not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, "
                        f"got {type(ext_tensor).__name__}")
    device_type, device_id = (int(v) for v in source.__dlpack_device__())
    if device_type in _HOST:
        array = np.from_dlpack(source)
        if source is not ext_tensor and not array.flags.writeable:
            array = _writable(array)
    elif device_type in _CUDA:
        cupy = backend.xp_for("gpu")  # DeviceError with a clear message when there is none
        array = cupy.from_dlpack(source)
    else:
        raise BufferError(f"from_dlpack: DLPack device type {device_type} (id {device_id}) is "
                          "not supported: tapeflow keeps tensors on the CPU (numpy) or a CUDA "
                          "GPU (cupy)")
    try:
        dt.of_array(array)
    except KeyError:
        raise TypeError(f"from_dlpack: dtype {array.dtype} is not a tapeflow dtype "
                        f"({', '.join(d.name for d in dt.ALL)})") from None
    return wrap(array)
