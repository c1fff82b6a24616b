"""PyTorch's optimizer update rules, written once with the registry's ops through ``F``.

Eager optimizers (``tapeflow.dynamic.optim``) run them on tensors under ``no_grad`` and
write the results into the parameters and state buffers in place; traced training steps
(``tapeflow.static.jit.traced_optim``) run the very same rules on symbolic tensors, so they
append the same ops in the same order and eager and traced updates agree bit for bit.
Each rule returns new values (or, for the parameter, the amount to subtract); the caller
decides how to store them.
"""

from __future__ import annotations

import math
from typing import Any

from .registry import F


def with_weight_decay(g: Any, p: Any, weight_decay: float) -> Any:
    """``g + weight_decay * p`` (L2 regularisation folded into the gradient)."""
    return F.add(g, F.mul(p, weight_decay)) if weight_decay else g


def running_average(average: Any, x: Any, keep: float, mix: float) -> Any:
    """``keep * average + mix * x``, as ``average.mul_(keep).add_(x, alpha=mix)`` computes
    it (no multiply when ``mix`` is 1)."""
    return F.add(F.mul(average, keep), x if mix == 1 else F.mul(x, mix))


# ---- SGD --------------------------------------------------------------------------------


def sgd_momentum(buffer: Any, g: Any, momentum: float, dampening: float) -> Any:
    """The new momentum buffer ``momentum * buf + (1 - dampening) * g`` (after step 1)."""
    return running_average(buffer, g, momentum, 1 - dampening)


def sgd_direction(g: Any, buffer: Any, momentum: float, nesterov: bool) -> Any:
    """What SGD steps along: the buffer, or ``g + momentum * buf`` with Nesterov."""
    return F.add(g, F.mul(buffer, momentum)) if nesterov else buffer


def sgd_step(direction: Any, lr: float) -> Any:
    """The amount to subtract from the parameter: ``lr * direction``."""
    return F.mul(direction, lr)


# ---- Adam ------------------------------------------------------------------------------


def adam_moments(m: Any, v: Any, g: Any, beta1: float, beta2: float) -> tuple[Any, Any]:
    """``m = b1 m + (1 - b1) g`` and ``v = b2 v + (1 - b2) g^2``."""
    return (running_average(m, g, beta1, 1 - beta1),
            running_average(v, F.mul(g, g), beta2, 1 - beta2))


def adam_step_size(step: int, lr: float, beta1: float) -> float:
    """The first moment's bias correction at step ``step`` (from 1): ``lr / (1 - b1^t)``."""
    return lr / (1 - beta1 ** step)


def adam_bias2(step: int, beta2: float) -> float:
    """The second moment's bias correction at step ``step`` (from 1): ``sqrt(1 - b2^t)``."""
    return math.sqrt(1 - beta2 ** step)


def adam_step(m: Any, v: Any, step_size: Any, bias2: Any, eps: float) -> Any:
    """The amount to subtract: ``step_size * m / (sqrt(v) / bias2 + eps)``."""
    denominator = F.add(F.div(F.sqrt(v), bias2), eps)
    return F.mul(F.div(m, denominator), step_size)


# ---- RMSprop ---------------------------------------------------------------------------


def rmsprop_denominator(square_avg: Any, grad_avg: Any | None, eps: float) -> Any:
    """``sqrt(s) + eps``; centered: ``sqrt(s - mean(g)^2) + eps``."""
    if grad_avg is not None:
        return F.add(F.sqrt(F.sub(square_avg, F.mul(grad_avg, grad_avg))), eps)
    return F.add(F.sqrt(square_avg), eps)
