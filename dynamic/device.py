"""``torch.device``: where a tensor's storage lives ('cpu' is numpy, 'cuda' is cupy)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..runtime import backend


class device:  # noqa: N801 - PyTorch's spelling
    """A device name, as PyTorch spells it: ``device('cpu')``, ``device('cuda')``, ``'cuda:0'``.

    Example:
        >>> device("cpu")
        device(type='cpu')
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        text = str(type).lower()
        name, _, number = text.partition(":")
        if name not in ("cpu", "cuda", "gpu"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device "
                               f"string: {type}")
        self.type = "cpu" if name == "cpu" else "cuda"
        self.index = int(number) if number else index

    @property
    def backend(self) -> str:
        """The runtime's name for this device: 'cpu' or 'gpu'."""
        return "cpu" if self.type == "cpu" else "gpu"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")
CUDA = device("cuda")


def as_device(value: Any) -> device:
    """``None`` means the CPU; strings and device objects are normalised."""
    if value is None:
        return CPU
    if isinstance(value, device):
        return value
    return device(value)


def xp_of(dev: device) -> ModuleType:
    """The array module of a device; 'cuda' without cupy raises ``runtime.DeviceError``."""
    return backend.xp_for(dev.backend)


def device_of_array(array: Any) -> device:
    return CPU if backend.device_of(array) == "cpu" else CUDA


def move(array: Any, dev: device) -> Any:
    """The array on ``dev`` (the same array when it is already there)."""
    if dev.type == "cuda":
        xp_of(dev)  # raises DeviceError with a clear message when there is no GPU
    return backend.to_device(array, dev.backend)


def is_available() -> bool:
    """``torch.cuda.is_available()``: cupy with a CUDA device is importable."""
    return backend.gpu_available()
