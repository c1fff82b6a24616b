"""Elman RNNs: ``RNNCell`` (one step) and ``RNN`` (a whole sequence, any length).

``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, PyTorch's parameter names and layout,
all weights U(-1/sqrt(hidden), 1/sqrt(hidden)). The graph follows the data: a sequence of
length T records T steps.
"""

from __future__ import annotations

import math
from typing import Any

from ...runtime import composites
from ..functions import stack
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .modules import uniform_parameter


def _activation(name: str) -> Any:
    if name not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{name}'. Select from 'tanh' or 'relu'.")
    return F.tanh if name == "tanh" else F.relu


def time_steps(module: Any, input: Tensor, kind: str) -> tuple[Tensor, ...]:  # noqa: A002
    """A recurrent stack's input, checked (3-D, last axis input_size), one view per step."""
    if input.ndim != 3:
        raise RuntimeError(f"{kind}: Expected input to be 3D, got {input.ndim}D instead")
    if input.shape[-1] != module.input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                           f"{module.input_size}, got {input.shape[-1]}")
    return input.unbind(1 if module.batch_first else 0)


def layers_repr(module: Any) -> str:
    """What ``repr`` shows of a recurrent stack (RNN, LSTM): sizes, then non-defaults."""
    text = f"{module.input_size}, {module.hidden_size}"
    if module.num_layers != 1:
        text += f", num_layers={module.num_layers}"
    if module.batch_first:
        text += ", batch_first=True"
    return text


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


class RNN(Module):
    """A stack of Elman layers over a sequence: returns ``(output, h_n)``.

    Input is (seq, batch, feature), or (batch, seq, feature) with ``batch_first=True``;
    ``output`` holds the last layer's state at every step, ``h_n`` (layers, batch, hidden)
    the last step's state of every layer.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False
                 ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.nonlinearity = num_layers, nonlinearity
        self.bias, self.batch_first = bias, batch_first
        _activation(nonlinearity)
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", uniform_parameter((hidden_size, width), bound))
            setattr(self, f"weight_hh_l{layer}",
                    uniform_parameter((hidden_size, hidden_size), bound))
            if bias:
                setattr(self, f"bias_ih_l{layer}", uniform_parameter((hidden_size,), bound))
                setattr(self, f"bias_hh_l{layer}", uniform_parameter((hidden_size,), bound))

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        steps = time_steps(self, input, "RNN")
        batch = input.shape[0 if self.batch_first else 1]
        if hx is None:
            from ..creation import zeros

            hx = zeros(self.num_layers, batch, self.hidden_size, dtype=input.dtype,
                       device=input.device)
        act = _activation(self.nonlinearity)
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
            b_ih = getattr(self, f"bias_ih_l{layer}") if self.bias else None
            b_hh = getattr(self, f"bias_hh_l{layer}") if self.bias else None
            h = hx[layer]
            outputs = []
            for x in steps:
                h = composites.elman_step(x, h, w_ih, w_hh, b_ih, b_hh, act)
                outputs.append(h)
            steps = tuple(outputs)
            finals.append(h)
        output = stack(list(steps), dim=1 if self.batch_first else 0)
        return output, stack(finals, dim=0)

    def extra_repr(self) -> str:
        return layers_repr(self)
