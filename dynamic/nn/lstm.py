"""LSTMs: ``LSTMCell`` (one step) and ``LSTM`` (a whole sequence, any length).

PyTorch's equations, parameter names and layout: the four gates (input, forget, cell,
output) are stacked in that order in ``weight_ih`` (4*hidden, input), ``weight_hh``
(4*hidden, hidden) and the biases, all U(-1/sqrt(hidden), 1/sqrt(hidden))::

    i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh, 4)
    c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')

Like ``RNN``, the graph follows the data: a sequence of length T records T steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...runtime import composites
from ..dispatch import apply
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .modules import uniform_parameter
from .recurrent import RecurrentStack, cell_zero_state


def _step(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
          b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    gates = apply("add", F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh))
    i, f, g, o = gates.chunk(4, 1)
    return composites.lstm_update(c, i, f, g, o)  # (the update TF1's BasicLSTMCell runs too)


def _weights(module: Module, suffix: str, input_size: int, hidden_size: int,
             bias: bool) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    setattr(module, f"weight_ih{suffix}", uniform_parameter((4 * hidden_size, input_size), bound))
    setattr(module, f"weight_hh{suffix}",
            uniform_parameter((4 * hidden_size, hidden_size), bound))
    if bias:
        setattr(module, f"bias_ih{suffix}", uniform_parameter((4 * hidden_size,), bound))
        setattr(module, f"bias_hh{suffix}", uniform_parameter((4 * hidden_size,), bound))
    else:
        module.register_parameter(f"bias_ih{suffix}", None)
        module.register_parameter(f"bias_hh{suffix}", None)


class LSTMCell(Module):
    """One LSTM step: ``(batch, input), ((batch, hidden), (batch, hidden)) -> (h', c')``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> cell = torch.nn.LSTMCell(3, 4)
        >>> h, c = cell(torch.zeros(2, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        _weights(self, "", input_size, hidden_size, bias)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        zero = cell_zero_state(self, input)  # (checks the input's width)
        if hx is None:
            hx = (zero, zero)
        return _step(input, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih,
                     self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(RecurrentStack):
    """A stack of LSTM layers over a sequence: returns ``(output, (h_n, c_n))``.

    Input is (seq, batch, feature), or (batch, seq, feature) with ``batch_first=True``;
    ``output`` holds the last layer's h at every step (both directions' side by side with
    ``bidirectional=True``); ``h_n`` and ``c_n`` (layers * directions, batch, hidden) the
    last step's state of every layer and direction (``dynamic/nn/recurrent.py`` runs the
    stack; ``dropout`` applies between layers in training).
    """

    _gates = 4
    _kind = "LSTM"
    _state_parts = 2

    def _step(self, x: Tensor, state: tuple[Tensor, ...], weights: Sequence[Any]
              ) -> tuple[Tensor, ...]:
        return _step(x, state[0], state[1], *weights)
