"""A stack of recurrent layers with PyTorch's options: ``num_layers``, ``bidirectional``,
``dropout`` between layers, ``batch_first``; parameters named and ordered as PyTorch's
(``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, then the ``_reverse``
set, then layer 1 ...), all U(-1/sqrt(hidden), 1/sqrt(hidden)).

A subclass names its gate count and its step; the step maps ``(x, state, weights)`` to a
new state, a tuple whose first item is the output h. The graph follows the data: a
sequence of length T records T steps per layer and direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..functions import cat, stack
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .modules import uniform_parameter

Step = Callable[..., tuple[Tensor, ...]]


def time_steps(module: Any, input: Tensor, kind: str) -> tuple[Tensor, ...]:  # noqa: A002
    """A recurrent stack's input, checked (3-D, last axis input_size), one view per step."""
    if input.ndim != 3:
        raise RuntimeError(f"{kind}: Expected input to be 3D, got {input.ndim}D instead")
    if input.shape[-1] != module.input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                           f"{module.input_size}, got {input.shape[-1]}")
    return input.unbind(1 if module.batch_first else 0)


def cell_zero_state(cell: Any, input: Tensor) -> Tensor:  # noqa: A002
    """A cell's input checked against its ``input_size``, and zeros for its state
    (batch, hidden) when none is given (``GRUCell``, ``LSTMCell``)."""
    if input.shape[-1] != cell.input_size:
        raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} "
                           f"expected {cell.input_size}")
    from ..creation import zeros

    return zeros(input.shape[0], cell.hidden_size, dtype=input.dtype, device=input.device)


class RecurrentStack(Module):
    """The shared driver of ``nn.GRU`` (and any gated stack): see the module docstring."""

    _gates = 1
    _kind = "RNN"
    _state_parts = 1  # h, or (h, c) for an LSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__()
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        bound = 1.0 / math.sqrt(hidden_size)
        rows = self._gates * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self._directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", uniform_parameter((rows, width), bound))
                setattr(self, f"weight_hh{suffix}",
                        uniform_parameter((rows, hidden_size), bound))
                if bias:
                    setattr(self, f"bias_ih{suffix}", uniform_parameter((rows,), bound))
                    setattr(self, f"bias_hh{suffix}", uniform_parameter((rows,), bound))

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][:self._directions]

    def _weights(self, suffix: str) -> list[Any]:
        return [getattr(self, f"{name}{suffix}", None)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def _step(self, x: Tensor, state: tuple[Tensor, ...], weights: Sequence[Any]
              ) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _initial(self, input: Tensor, hx: Any) -> list[Tensor]:  # noqa: A002
        """One (layers * directions, batch, hidden) tensor per state part."""
        parts = [hx] if isinstance(hx, Tensor) else list(hx or [])
        if not parts:
            from ..creation import zeros

            batch = input.shape[0 if self.batch_first else 1]
            zero = zeros(self.num_layers * self._directions, batch, self.hidden_size,
                         dtype=input.dtype, device=input.device)
            parts = [zero] * self._state_parts
        expected = (self.num_layers * self._directions,
                    input.shape[0 if self.batch_first else 1], self.hidden_size)
        for part in parts:
            if tuple(part.shape) != expected:
                raise RuntimeError(f"Expected hidden size {expected}, got {tuple(part.shape)}")
        return parts

    def _run(self, steps: Sequence[Tensor], state: tuple[Tensor, ...], suffix: str,
             reverse: bool) -> tuple[list[Tensor], tuple[Tensor, ...]]:
        weights = self._weights(suffix)
        order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
        outputs: list[Any] = [None] * len(steps)
        for t in order:
            state = self._step(steps[t], state, weights)
            outputs[t] = state[0]
        return outputs, state

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002
        steps: Sequence[Tensor] = time_steps(self, input, self._kind)
        initial = self._initial(input, hx)
        finals: list[tuple[Tensor, ...]] = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                steps = [F.dropout(x, self.dropout, True) for x in steps]
            runs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                slot = layer * self._directions + d
                outputs, final = self._run(steps, tuple(p[slot] for p in initial), suffix,
                                           reverse=d == 1)
                runs.append(outputs)
                finals.append(final)
            steps = runs[0] if len(runs) == 1 else [cat(list(pair), 1)
                                                    for pair in zip(*runs, strict=True)]
        output = stack(list(steps), dim=1 if self.batch_first else 0)
        state = tuple(stack([f[i] for f in finals], dim=0) for i in range(self._state_parts))
        return output, state[0] if self._state_parts == 1 else state

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text
