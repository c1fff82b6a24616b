"""Optimizer update rules, PyTorch's and TF1's side by side, written once with ``R``.

The two libraries name the same ideas differently and differ in small, visible ways:

==========  ===========================================  ==========================================
optimizer   PyTorch (``torch.optim``)                     TF1 (``tf.train``)
==========  ===========================================  ==========================================
momentum    ``buf = m buf + (1 - dampening) g``; first    ``accum = m accum + g`` (from zeros);
            step ``buf = g``; step ``lr buf``             step ``lr accum``
Adam        ``lr / (1 - b1^t) * m / (sqrt(v) /            ``lr sqrt(1 - b2^t) / (1 - b1^t) * m /
            sqrt(1 - b2^t) + eps)``                       (sqrt(v) + eps_hat)``: eps outside the
                                                          bias correction ("epsilon hat")
RMSProp     ``s`` from zeros; ``g / (sqrt(s) + eps)``;    ``ms`` from ones; ``lr g / sqrt(ms +
            momentum buffer of the scaled g, times lr     eps)``; momentum of the scaled step
Adagrad     ``sum`` from ``initial_accumulator_value``    ``accum`` from 0.1 by default;
            (0); ``lr g / (sqrt(sum) + eps)``             ``lr g / sqrt(accum)``
==========  ===========================================  ==========================================

Eager optimizers (``tapeflow.dynamic.optim``) run the PyTorch rules on tensors under
``no_grad`` and write the results into parameters and buffers in place; traced training
steps (``tapeflow.static.jit.traced_optim``) run the same rules on symbolic tensors (so eager
and traced updates agree bit for bit); ``tf.train`` optimizers (``tapeflow.static.train``)
run the TF1 rules on graph tensors and assign the results to slot variables. Each rule
returns new values (or, for the parameter, the amount to subtract); the caller decides how
to store them. :func:`with_gradients` is the per-parameter loop every front end walks, and
the ``*_update`` functions read a parameter's state, apply a rule and write the state back
through a :class:`Store`, the one thing eager and traced steps do differently.

The PyTorch rules compute with the namespace ``ops``: ``R`` (tensors, symbols: the default)
or :data:`UFUNCS`, the same registry kernels called directly on numpy arrays of one float
dtype, which the eager optimizers use when every operand is such an array (the same calls
in the same order, so the same bits, without a tensor or a dispatch per operation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from .registry import R, get


def _array_kernels(*names: str) -> SimpleNamespace:
    # each op's own kernel on numpy: its ufunc where the kernel is exactly one (no wrapper
    # frame), else the kernel itself with xp bound
    found = {}
    for name in names:
        op = get(name)
        found[name] = getattr(np, op.ufunc) if op.ufunc else partial(op.kernel, np)
    return SimpleNamespace(**found)


#: ``R``'s arithmetic for the rules below on numpy arrays of one float dtype (and Python
#: numbers): ``UFUNCS.mul(g, 0.5)`` is ``np.multiply(g, 0.5)``, the mul kernel's own call.
UFUNCS = _array_kernels("add", "sub", "mul", "div", "sqrt")


def with_weight_decay(g: Any, p: Any, weight_decay: float, ops: Any = R) -> Any:
    """``g + weight_decay * p`` (L2 regularisation folded into the gradient)."""
    return ops.add(g, ops.mul(p, weight_decay)) if weight_decay else g


def with_gradients(params: Iterable[Any], grad_of: Callable[[Any], Any],
                   weight_decay: float = 0.0, value_of: Callable[[Any], Any] | None = None
                   ) -> Iterator[tuple[Any, Any]]:
    """Each parameter that has a gradient, with the gradient its update uses (L2 weight decay
    folded in; ``value_of(p)`` is the parameter's value where it is not ``p`` itself).

    Example:
        >>> import numpy as np
        >>> grads = {"w": np.array([1.0]), "b": None}
        >>> [(name, g.tolist()) for name, g in with_gradients(grads, grads.get)]
        [('w', [1.0])]
    """
    for p in params:
        g = grad_of(p)
        if g is None:
            continue
        if weight_decay:  # (value_of only then: a tracer makes a state slot of what it reads)
            g = with_weight_decay(g, p if value_of is None else value_of(p), weight_decay)
        yield p, g


class Store(Protocol):
    """Where a front end keeps optimizer state: eager steps write buffers in place, traced
    steps write state slots of the graph. A store may name the namespace its values compute
    with as ``ops`` (``R`` when it does not)."""

    def read(self, buffer: Any) -> Any:
        """The buffer's current value."""

    def write(self, buffer: Any, value: Any) -> Any:
        """Stores ``value`` as the buffer's new value; returns what later reads should use."""

    def subtract(self, param: Any, amount: Any) -> None:
        """``param -= amount``."""


def ops_of(store: Store) -> Any:
    """The namespace ``store``'s values compute with: its ``ops``, else ``R``."""
    return getattr(store, "ops", R)


def running_average(average: Any, x: Any, keep: float, mix: float, ops: Any = R) -> Any:
    """``keep * average + mix * x``, as ``average.mul_(keep).add_(x, alpha=mix)`` computes
    it (no multiply when ``mix`` is 1)."""
    return ops.add(ops.mul(average, keep), x if mix == 1 else ops.mul(x, mix))


# ---- SGD --------------------------------------------------------------------------------


def sgd_momentum(buffer: Any, g: Any, momentum: float, dampening: float, ops: Any = R) -> Any:
    """The new momentum buffer ``momentum * buf + (1 - dampening) * g`` (after step 1)."""
    return running_average(buffer, g, momentum, 1 - dampening, ops)


def sgd_direction(g: Any, buffer: Any, momentum: float, nesterov: bool, ops: Any = R) -> Any:
    """What SGD steps along: the buffer, or ``g + momentum * buf`` with Nesterov."""
    return ops.add(g, ops.mul(buffer, momentum)) if nesterov else buffer


def sgd_step(direction: Any, lr: float, ops: Any = R) -> Any:
    """The amount to subtract from the parameter: ``lr * direction``."""
    return ops.mul(direction, lr)


def sgd_update(store: Store, p: Any, g: Any, lr: float, momentum: float = 0.0,
               dampening: float = 0.0, nesterov: bool = False, buffer: Any = None,
               seed: Callable[[Any], Any] | None = None) -> None:
    """One SGD step of ``p``. With momentum, ``buffer`` is the momentum buffer, or None on
    the first step, when ``seed(g)`` makes it: a copy of g (PyTorch's first-step rule)."""
    ops = ops_of(store)
    if momentum:
        if buffer is None:
            assert seed is not None, "sgd_update: a first momentum step needs seed"
            new = seed(g)
        else:
            new = store.write(buffer, sgd_momentum(store.read(buffer), g, momentum, dampening,
                                                   ops))
        g = sgd_direction(g, new, momentum, nesterov, ops)
    store.subtract(p, sgd_step(g, lr, ops))


# ---- Adam ------------------------------------------------------------------------------


def adam_moments(m: Any, v: Any, g: Any, beta1: float, beta2: float,
                 ops: Any = R) -> tuple[Any, Any]:
    """``m = b1 m + (1 - b1) g`` and ``v = b2 v + (1 - b2) g^2``."""
    return (running_average(m, g, beta1, 1 - beta1, ops),
            running_average(v, ops.mul(g, g), beta2, 1 - beta2, ops))


def adam_step_size(step: int, lr: float, beta1: float) -> float:
    """The first moment's bias correction at step ``step`` (from 1): ``lr / (1 - b1^t)``."""
    return lr / (1 - beta1 ** step)


def adam_bias2(step: int, beta2: float) -> float:
    """The second moment's bias correction at step ``step`` (from 1): ``sqrt(1 - b2^t)``."""
    return math.sqrt(1 - beta2 ** step)


def adam_step(m: Any, v: Any, step_size: Any, bias2: Any, eps: float, ops: Any = R) -> Any:
    """The amount to subtract: ``step_size * m / (sqrt(v) / bias2 + eps)``."""
    denominator = ops.add(ops.div(ops.sqrt(v), bias2), eps)
    return ops.mul(ops.div(m, denominator), step_size)


def adam_update(store: Store, p: Any, g: Any, m: Any, v: Any, betas: tuple[float, float],
                eps: float, step_size: Any, bias2: Any) -> None:
    """One Adam step of ``p`` with moment buffers ``m`` and ``v`` (the step-dependent
    factors from :func:`adam_step_size` and :func:`adam_bias2`)."""
    ops = ops_of(store)
    new_m, new_v = adam_moments(store.read(m), store.read(v), g, *betas, ops)
    new_m, new_v = store.write(m, new_m), store.write(v, new_v)
    store.subtract(p, adam_step(new_m, new_v, step_size, bias2, eps, ops))


# ---- RMSprop ---------------------------------------------------------------------------


def rmsprop_denominator(square_avg: Any, grad_avg: Any | None, eps: float, ops: Any = R) -> Any:
    """``sqrt(s) + eps``; centered: ``sqrt(s - mean(g)^2) + eps``."""
    if grad_avg is not None:
        return ops.add(ops.sqrt(ops.sub(square_avg, ops.mul(grad_avg, grad_avg))), eps)
    return ops.add(ops.sqrt(square_avg), eps)


def rmsprop_update(store: Store, p: Any, g: Any, square_avg: Any, grad_avg: Any | None,
                   buffer: Any | None, lr: float, alpha: float, eps: float,
                   momentum: float) -> None:
    """One RMSprop step: ``s = alpha s + (1 - alpha) g^2``; ``p -= lr g / denominator``;
    ``grad_avg`` given (centered) keeps the running mean of g; ``buffer`` given keeps
    ``buf = momentum buf + g / denominator`` and steps by ``lr buf``."""
    ops = ops_of(store)
    square = store.write(square_avg, running_average(store.read(square_avg), ops.mul(g, g),
                                                     alpha, 1 - alpha, ops))
    mean = None
    if grad_avg is not None:  # centered: the variance estimate E[g^2] - E[g]^2
        mean = store.write(grad_avg, running_average(store.read(grad_avg), g, alpha, 1 - alpha,
                                                     ops))
    scaled = ops.div(g, rmsprop_denominator(square, mean, eps, ops))
    if buffer is not None:
        scaled = store.write(buffer, running_average(store.read(buffer), scaled, momentum, 1,
                                                     ops))
    store.subtract(p, sgd_step(scaled, lr, ops))


# ---- PyTorch's AdamW and Adagrad ---------------------------------------------------------


def adamw_decay(p: Any, lr: float, weight_decay: float, ops: Any = R) -> Any:
    """AdamW's decoupled weight decay, applied to the parameter before the Adam step:
    ``p * (1 - lr * weight_decay)`` (Adam folds decay into g instead)."""
    return ops.mul(p, 1 - lr * weight_decay)


def adagrad_sum(state_sum: Any, g: Any, ops: Any = R) -> Any:
    """The running sum of squared gradients, ``sum + g^2`` (PyTorch and TF1 alike)."""
    return ops.add(state_sum, ops.mul(g, g))


def adagrad_lr(lr: float, step: int, lr_decay: float) -> float:
    """PyTorch's decayed Adagrad learning rate at step ``step`` (from 1):
    ``lr / (1 + (step - 1) lr_decay)``."""
    return lr / (1 + (step - 1) * lr_decay)


def adagrad_step(g: Any, state_sum: Any, lr: float, eps: float, ops: Any = R) -> Any:
    """PyTorch's Adagrad step: ``lr g / (sqrt(sum) + eps)`` (lr from :func:`adagrad_lr`)."""
    return ops.mul(ops.div(g, ops.add(ops.sqrt(state_sum), eps)), lr)


# ---- TF1's conventions (tf.train) --------------------------------------------------------
# Hyper-parameters may be graph tensors here (a learning-rate placeholder), so the rules
# take them as values, never as Python numbers they compute with.


def tf1_momentum(accum: Any, g: Any, momentum: Any) -> Any:
    """``MomentumOptimizer``'s accumulator ``momentum * accum + g`` (no dampening; the first
    step starts from zeros, where PyTorch's buffer starts as g)."""
    return running_average(accum, g, momentum, 1)


def tf1_adam_step_size(lr: Any, beta1_power: Any, beta2_power: Any) -> Any:
    """TF1 folds both bias corrections into the step size: ``lr sqrt(1 - b2^t) / (1 - b1^t)``,
    with ``b^t`` kept in variables (``beta1_power``) that the optimizer multiplies each step."""
    return R.mul(lr, R.div(R.sqrt(R.sub(1.0, beta2_power)), R.sub(1.0, beta1_power)))


def tf1_adam_step(m: Any, v: Any, step_size: Any, epsilon: float) -> Any:
    """The amount to subtract: ``lr_t m / (sqrt(v) + epsilon)``. Epsilon is added after the
    bias correction ("epsilon hat" in the Adam paper), so TF1's 1e-8 weighs more than
    PyTorch's at the first steps."""
    return R.div(R.mul(step_size, m), R.add(R.sqrt(v), epsilon))


def tf1_rmsprop_step(g: Any, ms: Any, mg: Any | None, lr: Any, epsilon: float) -> Any:
    """``lr g / sqrt(ms + epsilon)``; centered: ``lr g / sqrt(ms - mg^2 + epsilon)``. Epsilon
    sits under the square root (PyTorch adds it after)."""
    denominator = ms if mg is None else R.sub(ms, R.mul(mg, mg))
    return R.div(R.mul(lr, g), R.sqrt(R.add(denominator, epsilon)))


def tf1_adagrad_step(g: Any, accum: Any, lr: Any) -> Any:
    """``lr g / sqrt(accum)``: no epsilon (the accumulator starts positive instead)."""
    return R.div(R.mul(lr, g), R.sqrt(accum))
