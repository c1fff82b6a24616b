"""``optimizer.step()`` inside a traced function: update nodes instead of eager updates.

An eager optimizer keeps Python state (a momentum buffer that appears on the first step,
Adam's integer step count) that a graph built once cannot replay. So while a function is
traced, the tracer (this thread's interceptor: every ``Optimizer.step`` asks it first)
runs the rules below instead of ``SGD.step``, ``Adam.step`` and ``RMSprop.step``. They
append the same registry ops the eager step runs, op for op (so float64 results agree bit
for bit), under the graph's "update" role:

* parameters and buffers are state slots (Variables, written back after each call);
* Adam's step-dependent factors are Python numbers computed before each call and fed in;
* what the rule assumed about Python state (hyper-parameters, whether a momentum buffer
  exists yet) becomes a guard: when it changes, the function is traced again.

``zero_grad()`` (of optimizers and modules) runs as usual, and tells the tracer which
gradients it cleared: the graph then does not depend on their value on entry.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ...dynamic.creation import from_numpy
from ...dynamic.interop import array_of
from ...dynamic.optim import SGD, Adam, Optimizer, RMSprop
from ...runtime import R
from ...runtime import optim_rules as rules
from ..tensor import Tensor as Symbol
from .tracing import Tracer, TracingError

_SGD_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay")
_RMSPROP_KEYS = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")


def _hyper(group: dict[str, Any], keys: tuple[str, ...]) -> Callable[[], Any]:
    return lambda: tuple(group[k] for k in keys)


def sgd_step(tracer: Tracer, opt: SGD) -> None:
    """``p -= lr * g`` with weight decay, momentum (dampening, Nesterov) as in ``SGD.step``."""
    for group in opt.param_groups:
        tracer.guards.append((_hyper(group, _SGD_KEYS), _hyper(group, _SGD_KEYS)()))
        lr, momentum = group["lr"], group["momentum"]
        decay, dampening = group["weight_decay"], group["dampening"]
        for p, g in rules.with_gradients(group["params"], tracer.grad_symbol, decay,
                                         tracer.symbol):
            state = opt.state.setdefault(p, {}) if momentum else {}
            if momentum:
                tracer.guards.append((partial(_has_buffer, state), _has_buffer(state)))
            rules.sgd_update(_Slots(tracer), p, g, lr, momentum, dampening, group["nesterov"],
                             state.get("momentum_buffer"), partial(_seed, tracer, state))


def adam_step(tracer: Tracer, opt: Adam) -> None:
    """Adam with bias correction, as ``Adam.step``; the step count stays a Python int."""
    for group in opt.param_groups:
        tracer.guards.append((_hyper(group, _ADAM_KEYS), _hyper(group, _ADAM_KEYS)()))
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p, g in rules.with_gradients(group["params"], tracer.grad_symbol, group["weight_decay"],
                                         tracer.symbol):
            state = _lazy_state(opt, p, ("exp_avg", "exp_avg_sq"))
            # step_size = lr / (1 - beta1^t), bias2 = sqrt(1 - beta2^t): fed, t changes per call
            step_size = _fed(tracer, p, "step_size", partial(_step_size, state, beta1, lr))
            bias2 = _fed(tracer, p, "bias_correction2", partial(_bias2, state, beta2))
            rules.adam_update(_Slots(tracer), p, g, state["exp_avg"], state["exp_avg_sq"],
                              (beta1, beta2), eps, step_size, bias2)
            tracer.after.append((None, partial(_count_step, state)))


def rmsprop_step(tracer: Tracer, opt: RMSprop) -> None:
    """RMSprop (centered and momentum variants), as ``RMSprop.step``."""
    for group in opt.param_groups:
        tracer.guards.append((_hyper(group, _RMSPROP_KEYS), _hyper(group, _RMSPROP_KEYS)()))
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        for p, g in rules.with_gradients(group["params"], tracer.grad_symbol, group["weight_decay"],
                                         tracer.symbol):
            names = ("square_avg", *(("momentum_buffer",) if momentum else ()),
                     *(("grad_avg",) if group["centered"] else ()))
            state = _lazy_state(opt, p, names)
            tracer.after.append((None, partial(_count_step, state)))
            rules.rmsprop_update(
                _Slots(tracer), p, g, state["square_avg"],
                state["grad_avg"] if group["centered"] else None,
                state["momentum_buffer"] if momentum else None, lr, alpha, eps, momentum)


class _Slots:
    """Traced optimizer state (a :class:`runtime.optim_rules.Store`): buffers and parameters
    are state slots of the graph, written back after each call."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def read(self, buffer: Any) -> Any:
        return self.tracer.state(buffer).current

    def write(self, buffer: Any, value: Any) -> Any:
        self.tracer.write(buffer, value)
        return value

    def subtract(self, param: Any, amount: Any) -> None:
        self.tracer.write(param, R.sub(self.tracer.symbol(param), amount))


def _lazy_state(opt: Optimizer, p: Any, buffers: tuple[str, ...]) -> dict[str, Any]:
    """``opt.state`` of ``p``, made now on real tensors if empty (the eager step makes it on
    its first call: a step count and zero buffers)."""
    state = opt.state.setdefault(p, {})
    if not state:
        state["step"] = 0
        for name in buffers:
            state[name] = from_numpy(np.zeros_like(array_of(p)))
    return state


def _has_buffer(state: dict[str, Any]) -> bool:
    return state.get("momentum_buffer") is not None


def _seed(tracer: Tracer, state: dict[str, Any], g: Symbol) -> Symbol:
    # the first momentum step: the buffer starts as a copy of g, stored after the call
    new = tracer.node("copy", [g])
    tracer.after.append((new, partial(_store_buffer, state)))
    return new


def _store_buffer(state: dict[str, Any], value: Any) -> None:
    state["momentum_buffer"] = from_numpy(np.array(value))


def _step_size(state: dict[str, Any], beta1: float, lr: float) -> float:
    # the eager step's numbers for the step about to run (the rule counts from 1)
    return float(rules.adam_step_size(state["step"] + 1, lr, beta1))


def _bias2(state: dict[str, Any], beta2: float) -> float:
    return rules.adam_bias2(state["step"] + 1, beta2)


def _count_step(state: dict[str, Any], _: Any) -> None:
    state["step"] += 1


def _fed(tracer: Tracer, p: Any, what: str, compute: Callable[[], float]) -> Symbol:
    """A 0-d placeholder of ``p``'s dtype fed with ``compute()`` before every call (a Python
    float in eager mode, which the runtime rounds to ``p``'s dtype the same way)."""
    name = f"{tracer.names.get(id(p), 'param')}/{what}"
    placeholder = tracer.graph.placeholder(p.dtype, (), name)
    tracer.feeds.append((placeholder, compute))
    return placeholder


RULES: dict[type, Callable[[Tracer, Any], None]] = {
    SGD: sgd_step, Adam: adam_step, RMSprop: rmsprop_step}


def traced_step(tracer: Tracer, opt: Optimizer, closure: Any = None) -> None:
    """``opt.step()`` while ``tracer`` traces this thread: the rule of the class that defines
    the step appends update nodes; an optimizer without a rule refuses (its Python state
    could not follow a graph built once)."""
    if closure is not None:
        raise TracingError("optimizer.step(closure) cannot be traced: call the closure's "
                           "forward and backward in the traced function")
    owner = next(c for c in type(opt).__mro__ if "step" in vars(c))
    rule = RULES.get(owner)
    if rule is None:
        raise TracingError(
            f"{type(opt).__name__}.step() cannot be traced: tapeflow.static.function knows "
            f"how to replay the state of {', '.join(c.__name__ for c in RULES)} only (an "
            "eager step keeps Python state a graph built once cannot follow). Call step() "
            "outside the traced function, or use one of those optimizers.")
    with tracer.graph.role("update"), tracer.graph.name_scope(type(opt).__name__):
        rule(tracer, opt)


__all__ = ["RULES", "adam_step", "rmsprop_step", "sgd_step", "traced_step"]
