"""The shared tensor runtime: backends, dtypes, the op registry, arenas, accounting.

Importing this package registers every op (one module per op family).
"""

from . import (  # noqa: F401  (importing a family registers its ops)
    dtypes,
    fused,
    ops_activation,
    ops_addmm,
    ops_creation,
    ops_elementwise,
    ops_gather,
    ops_index,
    ops_meta,
    ops_nn,
    ops_reduce,
    ops_shape,
)
from .arena import ALIGNMENT, Arena, align
from .backend import DeviceError, Generator, array_module, canonical_device, gpu_available, xp_for
from .dtypes import DType, as_dtype, promote
from .memory import peak_bytes
from .ops_index import decode_index, encode_index
from .registry import (
    REGISTRY,
    OpDef,
    OpNotFoundError,
    R,
    ShapeError,
    Spec,
    evaluate,
    get,
    register,
)

__all__ = [
    "ALIGNMENT",
    "Arena",
    "DType",
    "DeviceError",
    "Generator",
    "OpDef",
    "OpNotFoundError",
    "R",
    "REGISTRY",
    "ShapeError",
    "Spec",
    "align",
    "array_module",
    "as_dtype",
    "canonical_device",
    "decode_index",
    "dtypes",
    "encode_index",
    "evaluate",
    "get",
    "gpu_available",
    "peak_bytes",
    "promote",
    "register",
    "xp_for",
]
