"""``torch.nn.init``: in-place (re)initialisation of parameters from the seeded generator."""

from __future__ import annotations

from ...runtime import composites
from ..creation import _random
from ..grad_mode import no_grad
from ..tensor import Tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    with no_grad():
        return tensor.copy_(_random("uniform", (tuple(tensor.shape),), tensor.dtype, tensor.device,
                                    False, a, b))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    with no_grad():
        return tensor.copy_(_random("normal", (tuple(tensor.shape),), tensor.dtype, tensor.device,
                                    False, mean, std))


def zeros_(tensor: Tensor) -> Tensor:
    with no_grad():
        return tensor.zero_()


def ones_(tensor: Tensor) -> Tensor:
    with no_grad():
        return tensor.fill_(1.0)


def constant_(tensor: Tensor, val: float) -> Tensor:
    with no_grad():
        return tensor.fill_(val)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_out, fan_in = tensor.shape[0], tensor.shape[1]
    bound = composites.glorot_limit(fan_in, fan_out, gain)
    return uniform_(tensor, -bound, bound)
