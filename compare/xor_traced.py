"""XOR in PyTorch style, traced into a static graph: the eager training step, compiled once.

The model, loss and optimizer are exactly those of :mod:`xor_dynamic`; only the training
step is wrapped in ``tapeflow.static.function``. Its first call runs the step on symbolic
tensors and records forward, ``backward()`` and ``optimizer.step()`` as one static graph;
every later call runs that graph's compiled, memory-planned schedule.
"""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from .. import static as tf
from .xor_dynamic import XorDynamic


class XorTraced(XorDynamic):
    """:class:`XorDynamic` whose training step runs as a compiled static graph."""

    def __init__(self, weights: dict[str, np.ndarray], lr: float, dtype: str) -> None:
        super().__init__(weights, lr, dtype)
        self.train_step = tf.function(self._train_step)

    def _train_step(self, x, y):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss  # a tensor: loss.item() here would need a value the trace does not have

    def inputs(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.tensor(inputs, dtype=self.dtype), torch.tensor(targets, dtype=self.dtype)

    def step(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        return self.train_step(*self.inputs(inputs, targets)).item()
