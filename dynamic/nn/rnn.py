"""Elman RNNs: ``RNNCell`` (one step) and ``RNN`` (a whole sequence, any length).

``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, PyTorch's parameter names and layout,
all weights U(-1/sqrt(hidden), 1/sqrt(hidden)). The graph follows the data: a sequence of
length T records T steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...runtime import composites
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .modules import uniform_parameter
from .recurrent import RecurrentStack, time_steps  # noqa: F401  (lstm.py imports it here)


def _activation(name: str) -> Any:
    if name not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{name}'. Select from 'tanh' or 'relu'.")
    return F.tanh if name == "tanh" else F.relu


class RNNCell(Module):
    """One step of an Elman RNN: ``(batch, input_size), (batch, hidden) -> (batch, hidden)``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> cell = torch.nn.RNNCell(3, 4)
        >>> cell(torch.zeros(2, 3)).shape
        torch.Size([2, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((hidden_size, input_size), bound)
        self.weight_hh = uniform_parameter((hidden_size, hidden_size), bound)
        if bias:
            self.bias_ih = uniform_parameter((hidden_size,), bound)
            self.bias_hh = uniform_parameter((hidden_size,), bound)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        if hx is None:
            from ..creation import zeros

            hx = zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
        F._check_linear(input, self.weight_ih)
        return composites.elman_step(input, hx, self.weight_ih, self.weight_hh, self.bias_ih,
                                     self.bias_hh, _activation(self.nonlinearity))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNN(RecurrentStack):
    """A stack of Elman layers over a sequence: returns ``(output, h_n)``.

    Input is (seq, batch, feature), or (batch, seq, feature) with ``batch_first=True``;
    ``output`` holds the last layer's state at every step (both directions' side by side
    with ``bidirectional=True``), ``h_n`` (layers * directions, batch, hidden) the last
    step's state of every layer and direction (``dynamic/nn/recurrent.py`` runs the stack).
    """

    _kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        act = _activation(nonlinearity)  # (checked before any weight is drawn)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
        self.nonlinearity, self._act = nonlinearity, act

    def _step(self, x: Tensor, state: tuple[Tensor, ...], weights: Sequence[Any]
              ) -> tuple[Tensor, ...]:
        return (composites.elman_step(x, state[0], *weights, self._act),)
