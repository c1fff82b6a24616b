"""Environment probes programs make before they start, answered for tapeflow's devices:
``torch.cuda`` (a CUDA device through cupy), ``torch.backends`` (no MPS, no cuDNN:
tapeflow's GPU kernels are cupy's), ``torch.accelerator``, and
``torch.set_default_device`` / ``get_default_device``.

Example:
    >>> import tapeflow.dynamic as torch
    >>> torch.backends.mps.is_available(), torch.backends.cudnn.is_available()
    (False, False)
    >>> device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..runtime import backend
from ..runtime import blas as _blas
from .device import as_device, device
from .thread_state import STATE


def _gpu() -> bool:
    return backend.gpu_available()


def _count() -> int:
    if not _gpu():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


class cuda:  # noqa: N801 - the torch.cuda namespace
    """``torch.cuda``: whether the cupy backend has a CUDA device, and how many."""

    @staticmethod
    def is_available() -> bool:
        return _gpu()

    @staticmethod
    def device_count() -> int:
        return _count()

    @staticmethod
    def current_device() -> int:
        if not _gpu():
            raise RuntimeError("Found no NVIDIA driver on your system.")
        return 0

    @staticmethod
    def get_device_name(index: Any = None) -> str:
        if not _gpu():
            raise RuntimeError("Found no NVIDIA driver on your system.")
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seeds the one generator every device draws from (``torch.manual_seed``)."""
        from .creation import manual_seed

        manual_seed(seed)

    manual_seed_all = manual_seed

    @staticmethod
    def synchronize(device: Any = None) -> None:
        if _gpu():
            import cupy

            cupy.cuda.Device().synchronize()

    @staticmethod
    def empty_cache() -> None:
        """Nothing is cached by tapeflow itself (cupy's pool keeps freed blocks)."""


class blas:  # noqa: N801 - a torch.backends-style namespace
    """Which GEMM library runs this thread's 2-D float matmuls (``runtime/blas.py``), forward
    and backward. Per thread, like grad mode; numpy's matmul unless a thread asks otherwise.
    ``"auto"`` times the installed libraries on each new (shapes, layout, dtype) the first
    time it runs and keeps the fastest. Results then equal numpy's to rounding, not bit for
    bit.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> previous = torch.backends.blas.set_provider("auto")
        >>> torch.backends.blas.get_provider(), previous
        ('auto', 'numpy')
        >>> _ = torch.backends.blas.set_provider(previous)
    """

    @staticmethod
    def set_provider(provider: str) -> str:
        """Sets this thread's provider ("numpy", "mkl" or "auto"); returns the previous one."""
        _blas.check_name(provider)
        previous = STATE.gemm or _blas.NUMPY
        STATE.gemm = None if provider == _blas.NUMPY else provider
        return previous

    @staticmethod
    def get_provider() -> str:
        return STATE.gemm or _blas.NUMPY

    @staticmethod
    def available() -> tuple[str, ...]:
        """The libraries installed here ("numpy" always; "mkl" with ``tapeflow[mkl]``)."""
        return _blas.available()


class _Flags(SimpleNamespace):
    """A backend with nothing behind it in tapeflow: reports it is absent; its switches can
    be set (``cudnn.benchmark = True``) and change nothing."""

    def is_available(self) -> bool:
        return False

    def is_built(self) -> bool:
        return False

    def version(self) -> None:
        return None


backends = SimpleNamespace(
    blas=blas, mps=_Flags(), cudnn=_Flags(enabled=True, benchmark=False, deterministic=False),
    mkldnn=_Flags(enabled=True), openmp=_Flags(),
    cuda=SimpleNamespace(is_built=lambda: _gpu(),
                         matmul=SimpleNamespace(allow_tf32=False)),
)


def _current() -> Any:
    return device("cuda") if _gpu() else None


accelerator = SimpleNamespace(
    is_available=_gpu,
    current_accelerator=_current,
    device_count=_count,
)

_DEFAULT = [device("cpu")]


def set_default_device(where: Any) -> None:
    """Where factory functions put tensors by default. tapeflow creates tensors on the CPU
    unless a call passes ``device=``, so only the CPU (or None, which means it) is accepted;
    another device raises an error that says to pass ``device=`` instead."""
    wanted = device("cpu") if where is None else as_device(where)
    if wanted.type != "cpu":
        raise NotImplementedError(
            f"set_default_device({str(wanted)!r}): tapeflow creates tensors on the CPU by "
            "default; pass device= to each factory call (torch.zeros(2, device='cuda')) or "
            "move tensors and modules with .to(device)")
    _DEFAULT[0] = wanted


def get_default_device() -> Any:
    return _DEFAULT[0]
