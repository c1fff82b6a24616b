"""GRUs: ``GRUCell`` (one step) and ``GRU`` (a stack over a sequence: layers,
bidirectional, dropout between layers), with PyTorch's equations and parameter layout (the
reset, update and new gates stacked in that order)::

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
    h' = (1 - z) n + z h

The step is the runtime composite ``gru_step`` (``runtime/composites_rnn.py``).

Example:
    >>> import tapeflow.dynamic as torch
    >>> gru = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
    >>> out, h = gru(torch.zeros(2, 5, 3))
    >>> tuple(out.shape), tuple(h.shape)
    ((2, 5, 8), (2, 2, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...runtime import composites_rnn
from ..tensor import Tensor
from .module import Module
from .modules import uniform_parameter
from .recurrent import RecurrentStack, cell_zero_state


class GRUCell(Module):
    """One GRU step: ``(batch, input), (batch, hidden) -> (batch, hidden)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((3 * hidden_size, input_size), bound)
        self.weight_hh = uniform_parameter((3 * hidden_size, hidden_size), bound)
        if bias:
            self.bias_ih = uniform_parameter((3 * hidden_size,), bound)
            self.bias_hh = uniform_parameter((3 * hidden_size,), bound)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        zero = cell_zero_state(self, input)  # (checks the input's width)
        return composites_rnn.gru_step(input, zero if hx is None else hx, self.weight_ih,
                                       self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class GRU(RecurrentStack):
    """A stack of GRU layers over a sequence: returns ``(output, h_n)``; ``output`` is
    (seq, batch, directions * hidden) (batch first with ``batch_first``), ``h_n``
    (layers * directions, batch, hidden)."""

    _gates = 3
    _kind = "GRU"

    def _step(self, x: Tensor, state: tuple[Tensor, ...], weights: Sequence[Any]
              ) -> tuple[Tensor, ...]:
        return (composites_rnn.gru_step(x, state[0], *weights),)
