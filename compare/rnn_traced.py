"""The sentiment RNN in PyTorch style, traced into static graphs: one per sentence length.

The model, loss and optimizer are those of :mod:`rnn_dynamic`. The RNN's Python loop runs
once per word, so tracing unrolls it: a trace holds the graph of one batch length, and a
batch of a new length (a new input signature) traces and compiles again. That is bucketing
done by the tracer, with one bucket per length (compare the static-bucketed mode).
"""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from .. import static as tf
from ..dynamic import nn
from .data import Batch
from .rnn_dynamic import RnnDynamic
from .weights import RNN_PARAMETERS, load_parameters, read_parameters


class RnnTraced(RnnDynamic):
    """:class:`RnnDynamic` whose training step runs as compiled static graphs."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        lr: float,
        dtype: str,
        clip: float = 0.1,
        options: tf.CompileOptions | None = None,
        cell: str = "rnn",
    ) -> None:
        super().__init__(weights, lr, dtype, clip, cell)
        # one trace per length is this workload's point (the table counts them), so the
        # retracing warning, meant for accidental retraces, is off
        self.train_step = tf.function(self._train_step, options=options, warn_after=None)
        self.gradient_step = tf.function(self._gradient_step, options=options, warn_after=None)

    def _train_step(self, tokens, labels):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(tokens), labels)
        loss.backward()
        nn.utils.clip_grad_value_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss

    def _gradient_step(self, tokens, labels):  # the step without the update
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(tokens), labels)
        loss.backward()
        return loss

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], batch: Batch
    ) -> tuple[float, dict[str, np.ndarray]]:
        load_parameters(self.model, RNN_PARAMETERS, weights)
        loss = self.gradient_step(*self.inputs(batch)).item()
        return loss, read_parameters(self.model, RNN_PARAMETERS, gradients=True)

    def inputs(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(batch.tokens), torch.from_numpy(batch.labels)

    def step(self, batch: Batch) -> float:
        return self.train_step(*self.inputs(batch)).item()
