"""``torch.optim``: ``SGD`` (momentum, weight decay), ``Adam``, ``AdamW``, ``RMSprop`` and
``Adagrad``, each composed from the update rules in ``runtime/optim_rules.py``.

Updates are in-place writes under ``no_grad`` (``optim_stores.py``: the registry kernels
straight on the tensors' numpy arrays, or in-place registry ops on the tensors), so they
bump the parameters' version counters exactly as PyTorch's do (a graph that saved a
parameter before the step cannot be backpropagated through after it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from ..runtime import optim_rules as rules
from .dispatch import apply
from .grad_mode import no_grad
from .interop import intercepted_step, note_zero_grad
from .optim_stores import gradients, sgd_on_arrays, uninterrupted
from .optim_stores import on_arrays as _on_arrays
from .optim_stores import seed as _seed
from .tensor import Tensor
from .thread_state import STATE


class Optimizer:
    """Holds parameter groups (dicts with ``params`` and hyper-parameters) and per-parameter
    state; subclasses implement :meth:`step`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every step asks this thread's interceptor first (a trace takes over its own thread's
        # steps only: interop.py); wrapped once, when the class is made
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = intercepted_step(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Any, dict[str, Any]] = {}  # parameter -> its buffers (PyTorch's keys)
        self.param_groups: list[dict[str, Any]] = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        group = dict(group)
        group["params"] = list(group["params"])
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        ids = {id(p) for p in group["params"]}
        if len(ids) != len(group["params"]):  # (PyTorch warns, and keeps both)
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error", UserWarning, stacklevel=2)
        if any(id(p) in ids for other in self.param_groups for p in other["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad`` (to None by default, as PyTorch 2 does)."""
        if STATE.hot[0] is not None:  # (note_zero_grad's own test, without its frame)
            note_zero_grad(self._params)
        for group in self.param_groups:
            if set_to_none:
                for p in group["params"]:
                    p._grad = None  # (the setter's shape check has nothing to check for None)
                continue
            for p in group["params"]:
                grad = p._grad
                if grad is not None:
                    with no_grad():
                        grad.zero_()

    def step(self) -> None:
        raise NotImplementedError

    @staticmethod
    def _gradients(group: dict[str, Any], decay: bool = True
                   ) -> Iterator[tuple[Any, Any, Any]]:
        """Each parameter of ``group`` that has a gradient, with the store its update writes
        through and the gradient that update uses (L2 weight decay folded in unless ``decay``
        is False): see :func:`optim_stores.gradients`."""
        return gradients(group["params"], group.get("weight_decay", 0.0) if decay else 0.0)

    def _params(self) -> list[Any]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout: parameters are numbered in group order, and ``state`` and each
        group's ``params`` refer to them by number, so the dict can be saved and loaded
        into an optimizer over other tensors of the same shapes.

        Example:
            >>> import tapeflow.dynamic as torch
            >>> w = torch.nn.Parameter(torch.ones(2))
            >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
            >>> (w * 3).sum().backward(); opt.step()
            >>> sd = opt.state_dict(); sd["param_groups"][0]["params"], list(sd["state"])
            ([0], [0])
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        state = {index[id(p)]: dict(buffers) for p, buffers in self.state.items()
                 if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores hyper-parameters and buffers saved by :meth:`state_dict` (of this
        optimizer or one over tensors of the same shapes). Checks everything first: a
        mismatch raises ValueError and changes nothing."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(saved["params"]) != len(own["params"])
               for saved, own in zip(groups, self.param_groups, strict=True)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        params = {saved_id: p for saved, own in zip(groups, self.param_groups, strict=True)
                  for saved_id, p in zip(saved["params"], own["params"], strict=True)}
        state: dict[Any, dict[str, Any]] = {}
        for key, buffers in state_dict["state"].items():
            if key not in params:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no "
                                 "parameter group lists")
            p = params[key]
            state[p] = {name: _buffer_like(value, p, name) for name, value in buffers.items()}
        self.state = state
        for saved, own in zip(groups, self.param_groups, strict=True):
            own.update({k: v for k, v in saved.items() if k != "params"})


def _buffer_like(value: Any, p: Any, name: str) -> Any:
    # a tensor buffer becomes a copy on the parameter's dtype (as PyTorch casts it); a step
    # count stays a number
    if not isinstance(value, Tensor):
        return value
    # (only the step count may be a 0-d tensor: PyTorch saves it so)
    if tuple(value.shape) != tuple(p.shape) and not (value.ndim == 0 and name == "step"):
        raise ValueError(f"loaded state dict has a '{name}' buffer of shape "
                         f"{list(value.shape)} for a parameter of shape {list(p.shape)}")
    return value.detach().to(p.dtype).clone()


class SGD(Optimizer):
    """Stochastic gradient descent: ``p -= lr * (g + weight_decay * p)``, with momentum
    ``buf = momentum * buf + (1 - dampening) * g`` (Nesterov optional).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.nn.Parameter(torch.ones(1))
        >>> opt = torch.optim.SGD([w], lr=0.5)
        >>> (w * 2).sum().backward(); opt.step(); w.tolist()
        [0.0]
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False
                 ) -> None:
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def step(self) -> None:
        if not sgd_on_arrays(self.param_groups):  # (the usual case: numpy, no momentum)
            self._step()

    @uninterrupted
    @no_grad()
    def _step(self) -> None:
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            nesterov = group["nesterov"]
            for store, p, g in self._gradients(group):
                if not momentum:
                    rules.sgd_update(store, p, g, lr)
                    continue
                state = self.state.setdefault(p, {})
                buffer = state.get("momentum_buffer")
                if buffer is not None:
                    store, g = _on_arrays(store, p, g, buffer)
                rules.sgd_update(store, p, g, lr, momentum, dampening, nesterov, buffer,
                                 partial(_seed, state))


class Adam(Optimizer):
    """Adam: moment estimates ``m, v`` with bias correction;
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    @uninterrupted
    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for store, p, g in self._gradients(group):
                self._update(store, p, g, group)

    def _update(self, store: Any, p: Any, g: Any, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = apply("mul", p, 0.0)
            state["exp_avg_sq"] = apply("mul", p, 0.0)
        state["step"] += 1
        step_size = rules.adam_step_size(state["step"], lr, beta1)
        bias2 = rules.adam_bias2(state["step"], beta2)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        store, g = _on_arrays(store, p, g, m, v)
        rules.adam_update(store, p, g, m, v, (beta1, beta2), eps, step_size, bias2)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before each Adam
    step, instead of adding ``weight_decay * p`` to the gradient.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.nn.Parameter(torch.ones(1))
        >>> opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (w * 2).sum().backward(); opt.step(); round(w.item(), 4)
        0.85
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    @uninterrupted
    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            decay = group["weight_decay"]
            for store, p, g in self._gradients(group, decay=False):
                if decay:
                    store.write(p, rules.adamw_decay(store.read(p), group["lr"], decay,
                                                     rules.ops_of(store)))
                self._update(store, p, g, group)


class Adagrad(Optimizer):
    """Adagrad: ``sum += g^2`` (from ``initial_accumulator_value``);
    ``p -= lr_t g / (sqrt(sum) + eps)`` with ``lr_t = lr / (1 + (t - 1) lr_decay)``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.nn.Parameter(torch.ones(1))
        >>> opt = torch.optim.Adagrad([w], lr=0.5)
        >>> (w * 2).sum().backward(); opt.step(); round(w.item(), 4)
        0.5
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if initial_accumulator_value < 0:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value})

    @uninterrupted
    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for store, p, g in self._gradients(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["sum"] = apply("full_like", p,
                                         value=group["initial_accumulator_value"])
                state["step"] += 1
                total = state["sum"]
                store, g = _on_arrays(store, p, g, total)
                ops = rules.ops_of(store)
                new = store.write(total, rules.adagrad_sum(store.read(total), g, ops))
                lr = rules.adagrad_lr(group["lr"], state["step"], group["lr_decay"])
                store.subtract(p, rules.adagrad_step(g, new, lr, group["eps"], ops))


class RMSprop(Optimizer):
    """RMSprop: ``s = alpha s + (1 - alpha) g^2``; ``p -= lr g / (sqrt(s) + eps)``
    (``centered`` subtracts the squared running mean of g first; ``momentum`` keeps
    ``buf = momentum buf + g / (sqrt(s) + eps)`` and steps by ``lr buf``).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.nn.Parameter(torch.ones(1))
        >>> opt = torch.optim.RMSprop([w], lr=0.1)
        >>> (w * 2).sum().backward(); opt.step(); round(w.item(), 4)
        0.0
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if alpha < 0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "centered": centered, "weight_decay": weight_decay})

    @uninterrupted
    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for store, p, g in self._gradients(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = apply("mul", p, 0.0)
                    if momentum:
                        state["momentum_buffer"] = apply("mul", p, 0.0)
                    if group["centered"]:
                        state["grad_avg"] = apply("mul", p, 0.0)
                state["step"] += 1
                square = state["square_avg"]
                mean = state.get("grad_avg") if group["centered"] else None
                buffer = state["momentum_buffer"] if momentum else None
                store, g = _on_arrays(store, p, g, square,
                                      *(b for b in (mean, buffer) if b is not None))
                rules.rmsprop_update(store, p, g, square, mean, buffer, lr, alpha, eps, momentum)

# issue 21: LBFGS and the learning-rate schedulers, importable as torch.optim.lr_scheduler
import sys as _sys  # noqa: E402

from . import lr_scheduler  # noqa: E402
from .optim_lbfgs import LBFGS  # noqa: E402

_sys.modules[f"{__name__}.lr_scheduler"] = lr_scheduler
#: the public names: the optimizers defined here, LBFGS and the lr_scheduler module
__all__ = sorted({n for n, v in list(globals().items())
                  if not n.startswith("_") and getattr(v, "__module__", None) == __name__}
                 | {LBFGS.__name__, "lr_scheduler"})


def __getattr__(name: str) -> object:
    """``torch.optim.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("torch.optim", name)
