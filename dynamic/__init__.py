"""tapeflow.dynamic: PyTorch-style eager tensors with a tape (``import tapeflow.dynamic as torch``).

Every op runs at once through the shared runtime registry and, when grad mode is on
and an input requires grad, records one node; ``backward()`` walks the nodes in reverse.

Example:
    >>> import tapeflow.dynamic as torch
    >>> w = torch.tensor([2.0], requires_grad=True)
    >>> loss = (w * 3).sum()
    >>> loss.backward()
    >>> w.grad
    tensor([3.])
"""

from __future__ import annotations

from ..runtime import dtypes as _dt
from . import autograd
from .backends import (  # environment probes: torch.cuda, torch.backends, ...
    accelerator,
    backends,
    cuda,
    get_default_device,
    set_default_device,
)
from .creation import (
    LEGACY,
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    as_tensor,
    default_generator,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .device import device
from .dispatch import TensorShapeError
from .functions import *  # noqa: F403  (the torch.* function namespace)
from .functions import __all__ as _function_names
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .size import Size
from .storage import Storage
from .tensor import Tensor

float32 = float = _dt.float32  # noqa: A001
float64 = double = _dt.float64
float16 = half = _dt.float16
int64 = long = _dt.int64
int32 = int = _dt.int32  # noqa: A001
int16 = short = _dt.int16
int8 = _dt.int8
uint8 = _dt.uint8
bool = _dt.bool_  # noqa: A001
dtype = _dt.DType


def get_default_dtype() -> _dt.DType:
    return _dt.float32


from . import nn, optim, utils  # noqa: E402  (these build on everything above)
from .dlpack import from_dlpack  # noqa: E402
from .serialization import load, save  # noqa: E402

__all__ = [
    "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LEGACY", "LongTensor", "ShortTensor", "Size", "Storage", "Tensor",
    "TensorShapeError", "arange", "as_tensor", "autograd", "bool", "cuda", "default_generator",
    "device", "double", "dtype", "empty", "empty_like", "enable_grad", "eye", "float", "float16",
    "float32", "float64", "from_numpy", "full", "full_like", "get_default_dtype", "half", "int",
    "int16", "int32", "int64", "int8", "is_grad_enabled", "long", "manual_seed", "nn", "no_grad",
    "ones", "ones_like", "optim", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm",
    "set_grad_enabled", "short", "tensor", "uint8", "utils", "zeros", "zeros_like",
    *_function_names,
]
__all__ += ["from_dlpack", "load", "save"]  # interop: DLPack and checkpoints

# API fidelity: the torch.* functions with PyTorch's signatures (dim, keepdim, out=) replace
# the plain method-forwarding ones above; names tapeflow lacks raise a friendly error
from .compat import *  # noqa: E402, F403
from .compat import __all__ as _compat_names  # noqa: E402

__all__ += [n for n in _compat_names if n not in __all__]

# issue 21: products, gathers and scatters, sorting, running sums (dynamic/tensor_more.py)
from .functions_more import *  # noqa: E402, F403
from .functions_more import __all__ as _more_names  # noqa: E402

__all__ += [n for n in _more_names if n not in __all__]
from .random import bernoulli, multinomial, normal, randint_like  # noqa: E402

__all__ += ["bernoulli", "multinomial", "normal", "randint_like"]
__all__ += ["accelerator", "backends", "get_default_device", "set_default_device"]


def __getattr__(name: str) -> object:
    """``torch.conv2d`` and other names tapeflow lacks: an error naming the closest ones."""
    from .unsupported import miss

    raise miss("torch", name)
