"""Array backends: numpy on the CPU, cupy on the GPU, and one seeded generator each.

Kernels are written once against an array module ``xp``; this module decides which
module that is. ``device="cpu"|"gpu"`` picks one explicitly; otherwise the
``TAPEFLOW_DEVICE`` environment variable does, defaulting to the CPU.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import dtypes as dt


class DeviceError(RuntimeError):
    """The requested device cannot be used here (for example: gpu without cupy)."""


_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}


def _load_cupy() -> ModuleType:
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DeviceError(
            "device 'gpu' needs cupy, which is not installed; "
            "install the extra with: pip install 'tapeflow[gpu]'"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cupy raises its own CUDARuntimeError without a driver
        raise DeviceError(f"device 'gpu' needs a CUDA device, but cupy found none ({exc})") from exc
    if count < 1:
        raise DeviceError("device 'gpu' needs a CUDA device, but cupy found none")
    return cupy


def canonical_device(device: Any = None) -> str:
    """Normalises ``None``/"cpu"/"gpu"/"cuda"/"cuda:0" (or an object with ``.type``) to cpu|gpu."""
    if device is None:
        device = os.environ.get("TAPEFLOW_DEVICE", "cpu")
    device = getattr(device, "type", device)
    name = str(device).lower().split(":")[0]
    if name not in _DEVICE_ALIASES:
        raise DeviceError(f"unknown device {device!r}; expected 'cpu' or 'gpu' (alias 'cuda')")
    return _DEVICE_ALIASES[name]


def xp_for(device: Any = None) -> ModuleType:
    """The array module for a device: numpy for cpu, cupy for gpu (a clear error without it)."""
    return np if canonical_device(device) == "cpu" else _load_cupy()


def array_module(array: Any) -> ModuleType:
    """The array module that owns ``array`` (Chainer's idiom): numpy unless it is a cupy array."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np
    module = type(array).__module__.split(".")[0]
    if module == "cupy":
        return _load_cupy()
    return np


def device_of(array: Any) -> str:
    return "cpu" if array_module(array) is np else "gpu"


def to_device(array: Any, device: str) -> Any:
    """Moves an array to ``device`` (a copy only when it changes device)."""
    device = canonical_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return _load_cupy().asarray(array)


def as_array(value: Any, dtype: Any, device: str) -> Any:
    """``value`` as an array of numpy ``dtype`` on ``device`` (cpu|gpu): a cupy array stays
    on the GPU (no host round trip), anything else goes through ``np.asarray`` first.

    Example:
        >>> as_array([1, 2], np.float32, "cpu")
        array([1., 2.], dtype=float32)
    """
    if not isinstance(value, np.ndarray) and array_module(value) is not np:
        array = value if value.dtype == dtype else value.astype(dtype)
    else:
        array = np.asarray(value, dtype=dtype)
    return to_device(array, device)


@dataclass
class Generator:
    """A seeded random generator for one backend.

    Draws are made by numpy's PCG64 on the host and moved to the device, so one seed
    gives the same numbers on every backend and in both front ends.

    Example:
        >>> g = Generator(seed=0)
        >>> g.uniform((2,), -1.0, 1.0, dt.float64).shape
        (2,)
    """

    seed: int | None = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.device = canonical_device(self.device)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))

    def manual_seed(self, seed: int) -> None:
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def get_state(self) -> dict[str, Any]:
        """The generator's position (a copy): :meth:`set_state` returns to it, so a replay
        draws the same numbers (checkpointing re-runs dropout with the same masks)."""
        return copy.deepcopy(self._rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = copy.deepcopy(state)

    def uniform(self, shape: tuple[int, ...], low: float, high: float, dtype: dt.DType) -> Any:
        host = self._rng.uniform(low, high, size=shape).astype(dtype.np)
        return to_device(host, self.device)

    def normal(self, shape: tuple[int, ...], mean: float, std: float, dtype: dt.DType) -> Any:
        host = self._rng.normal(mean, std, size=shape).astype(dtype.np)
        return to_device(host, self.device)

    def truncated_normal(
        self, shape: tuple[int, ...], mean: float, std: float, dtype: dt.DType
    ) -> Any:
        # Redraw values beyond two standard deviations, as TF1's truncated_normal does.
        values = self._rng.normal(0.0, 1.0, size=shape)
        bad = np.abs(values) > 2.0
        while bad.any():
            values[bad] = self._rng.normal(0.0, 1.0, size=int(bad.sum()))
            bad = np.abs(values) > 2.0
        return to_device((values * std + mean).astype(dtype.np), self.device)

    def integers(self, shape: tuple[int, ...], low: int, high: int, dtype: dt.DType) -> Any:
        host = self._rng.integers(low, high, size=shape).astype(dtype.np)
        return to_device(host, self.device)

    def permutation(self, n: int) -> np.ndarray:
        return self._rng.permutation(n)


def gpu_available() -> bool:
    try:
        _load_cupy()
    except DeviceError:
        return False
    return True
