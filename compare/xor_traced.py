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
from .weights import XOR_PARAMETERS, load_parameters, read_parameters
from .xor_dynamic import XorDynamic


class XorTraced(XorDynamic):
    """:class:`XorDynamic` whose training step runs as a compiled static graph."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        lr: float,
        dtype: str,
        options: tf.CompileOptions | None = None,
    ) -> None:
        super().__init__(weights, lr, dtype)
        self.train_step = tf.function(self._train_step, options=options)
        self.gradient_step = tf.function(self._gradient_step, options=options)

    def _train_step(self, x, y):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss  # a tensor: loss.item() here would need a value the trace does not have

    def _gradient_step(self, x, y):  # the step without the update: .grad is written back
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        return loss

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        load_parameters(self.model, XOR_PARAMETERS, weights)
        loss = self.gradient_step(*self.inputs(inputs, targets)).item()
        return loss, read_parameters(self.model, XOR_PARAMETERS, gradients=True)

    def inputs(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.tensor(inputs, dtype=self.dtype), torch.tensor(targets, dtype=self.dtype)

    def step(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        return self.train_step(*self.inputs(inputs, targets)).item()
