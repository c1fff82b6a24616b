"""``torch.optim.LBFGS``: limited-memory BFGS driven by a closure that re-evaluates the
loss, as PyTorch's (fixed step ``lr`` after a first step scaled by the gradient's 1-norm;
the stopping tests on the gradient, the step and the loss change). The direction is
``runtime/lbfgs_rule.py``'s two-loop recursion.

Example:
    >>> import tapeflow.dynamic as torch
    >>> w = torch.tensor([3.0], requires_grad=True)
    >>> opt = torch.optim.LBFGS([w], lr=1.0)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> round(w.item(), 4)
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..runtime import lbfgs_rule
from ..runtime.backend import to_device
from .creation import tensor
from .grad_mode import enable_grad, no_grad
from .optim import Optimizer


class LBFGS(Optimizer):
    """L-BFGS over every parameter at once (one parameter group, as PyTorch requires)."""

    def __init__(self, params: Iterable[Any], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if line_search_fn is not None:
            raise NotImplementedError(f"LBFGS: line_search_fn={line_search_fn!r} is not "
                                      "supported; tapeflow's LBFGS takes fixed steps of lr")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=None))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def _flat_grad(self) -> np.ndarray:
        parts = [np.zeros(p.numel()) if p.grad is None
                 else np.asarray(to_device(p.grad._array, "cpu"), np.float64).ravel()
                 for p in self.param_groups[0]["params"]]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _move(self, step: np.ndarray) -> None:
        offset = 0
        with no_grad():
            for p in self.param_groups[0]["params"]:
                n = p.numel()
                chunk = step[offset:offset + n].reshape(tuple(p.shape))
                p.add_(tensor(chunk.astype(p.dtype.np), device=p.device))
                offset += n

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One optimisation: up to ``max_iter`` iterations, calling ``closure`` (which
        clears the gradients, computes the loss, calls backward and returns the loss)."""
        if closure is None:
            raise RuntimeError("LBFGS.step() requires a closure that reevaluates the model")
        group = self.param_groups[0]
        state = self.state.setdefault(group["params"][0], {"func_evals": 0, "n_iter": 0})
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        state["func_evals"] += 1
        evals = 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max(initial=0.0) <= group["tolerance_grad"]:
            return orig_loss
        memory = state.setdefault("memory", lbfgs_rule.Memory(group["history_size"]))
        d, t, prev_grad = state.get("d"), state.get("t"), state.get("prev_flat_grad")
        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            if state["n_iter"] > 1:
                lbfgs_rule.remember(memory, flat_grad - prev_grad, d * t)
            d = lbfgs_rule.direction(flat_grad, memory)
            prev_grad, prev_loss = flat_grad.copy(), loss
            lr = group["lr"]
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            if float(np.dot(flat_grad, d)) > -group["tolerance_change"]:
                break
            self._move(t * d)
            if n_iter != group["max_iter"]:
                with enable_grad():
                    loss = float(closure())
                flat_grad = self._flat_grad()
                evals += 1
                state["func_evals"] += 1
            if (n_iter == group["max_iter"] or evals >= group["max_eval"]
                    or np.abs(flat_grad).max() <= group["tolerance_grad"]
                    or np.abs(d * t).max() <= group["tolerance_change"]
                    or abs(loss - prev_loss) < group["tolerance_change"]):
                break
        state.update(d=d, t=t, prev_flat_grad=prev_grad, prev_loss=prev_loss)
        return orig_loss
