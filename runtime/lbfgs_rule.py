"""The L-BFGS direction (Nocedal and Wright, algorithm 7.4, the two-loop recursion) and
its curvature memory, on flat host vectors: the rule PyTorch's ``optim.LBFGS`` applies
between closure evaluations. ``dynamic/optim_lbfgs.py`` gathers the gradients, calls
these and moves the parameters.

Example:
    >>> import numpy as np
    >>> memory = Memory(history_size=5)
    >>> direction(np.array([2.0, -4.0]), memory).tolist()
    [-2.0, 4.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Memory:
    """The last ``history_size`` curvature pairs: gradient changes ``y``, steps ``s``,
    ``rho = 1 / (y . s)``, and the initial inverse-Hessian scale ``H_diag``."""

    history_size: int
    old_dirs: list[np.ndarray] = field(default_factory=list)
    old_stps: list[np.ndarray] = field(default_factory=list)
    ro: list[float] = field(default_factory=list)
    h_diag: float = 1.0


def remember(memory: Memory, y: np.ndarray, s: np.ndarray) -> None:
    """Adds the pair (y, s) when its curvature ``y . s`` is positive enough (> 1e-10), the
    oldest pair dropped at ``history_size``; ``H_diag = y.s / y.y``."""
    ys = float(np.dot(y, s))
    if ys <= 1e-10:
        return
    if len(memory.old_dirs) == memory.history_size:
        memory.old_dirs.pop(0)
        memory.old_stps.pop(0)
        memory.ro.pop(0)
    memory.old_dirs.append(y)
    memory.old_stps.append(s)
    memory.ro.append(1.0 / ys)
    memory.h_diag = ys / float(np.dot(y, y))


def direction(flat_grad: np.ndarray, memory: Memory) -> np.ndarray:
    """``-H g`` by the two-loop recursion over the memory (``-g`` when it is empty)."""
    q = -flat_grad
    alphas = [0.0] * len(memory.old_dirs)
    for i in range(len(memory.old_dirs) - 1, -1, -1):
        alphas[i] = float(np.dot(memory.old_stps[i], q)) * memory.ro[i]
        q = q - alphas[i] * memory.old_dirs[i]
    r = q * memory.h_diag
    for i in range(len(memory.old_dirs)):
        beta = float(np.dot(memory.old_dirs[i], r)) * memory.ro[i]
        r = r + (alphas[i] - beta) * memory.old_stps[i]
    return r
