"""``torch.nn.utils``: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``).

The norm is the runtime's shared ``global_norm`` composite (TF1's ``tf.clip_by_global_norm``
uses it too); the gradients are scaled in place under ``no_grad``, as PyTorch does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ...runtime import composites
from ..creation import tensor
from ..grad_mode import no_grad
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters: Any) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scales every ``.grad`` in place by ``min(1, max_norm / (total_norm + 1e-6))`` and
    returns the total norm (the 2-norm of all gradients together, or the largest magnitude
    for ``norm_type=inf``).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
        >>> (w * w / 2).sum().backward()
        >>> total = torch.nn.utils.clip_grad_norm_([w], 1.0)
        >>> total.item(), [round(g, 4) for g in w.grad.tolist()]
        (5.0, [0.6, 0.8])
    """
    grads = [p.grad for p in _with_grads(parameters)]
    with no_grad():
        if not grads:
            return tensor(0.0)
        if norm_type == 2.0:
            total = composites.global_norm(grads)
        elif norm_type == math.inf:
            total = max((g.abs().max() for g in grads), key=lambda t: t.item())
        else:
            raise NotImplementedError(f"clip_grad_norm_: norm_type {norm_type} is not "
                                      "supported (2.0 or inf)")
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from "
                               "`parameters` is non-finite, so it cannot be clipped. To disable "
                               "this error and scale the gradients by the non-finite norm "
                               "anyway, set `error_if_nonfinite=False`")
        coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coefficient.to(g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamps every ``.grad`` in place to ``[-clip_value, clip_value]``."""
    with no_grad():
        for p in _with_grads(parameters):
            p.grad.clamp_(-clip_value, clip_value)
