"""``tf.nn.rnn_cell`` and the unrolling functions ``tf.nn.static_rnn`` / ``tf.nn.dynamic_rnn``.

The cells are TF 1.x's: ``BasicRNNCell`` (``h' = tanh([x, h] W + b)``) and
``BasicLSTMCell`` (gates i, j, f, o from ``[x, h] W + b``; ``c' = c sigmoid(f +
forget_bias) + sigmoid(i) tanh(j)``; ``h' = tanh(c') sigmoid(o)``; state
``LSTMStateTuple(c, h)``). A cell makes its ``kernel`` and ``bias`` with ``tf.get_variable``
on its first call, under the variable scope open then plus its own name, and every later
call uses the same variables, as TF's layers do.

A static graph has no loop here: ``dynamic_rnn`` unrolls over the time axis of its input,
whose length must be known (one graph per length, the harness's bucketing idea), and
``sequence_length`` is refused rather than ignored.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, 5, 3])
    ...     outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(4), x,
    ...                                        dtype=tf.float32)
    ...     names = [v.name for v in tf.trainable_variables()]
    >>> outputs.shape.as_list(), names
    ([None, 5, 4], ['rnn/basic_rnn_cell/kernel:0', 'rnn/basic_rnn_cell/bias:0'])
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from ..runtime import composites
from ..runtime import dtypes as dt
from .compat_ops import unstack
from .ops import add, concat, matmul, split, stack, tanh
from .sharing import get_variable, variable_scope, zeros_initializer
from .sources import convert_to_tensor, zeros, zeros_like
from .tensor import Tensor

__all__ = ["BasicLSTMCell", "BasicRNNCell", "LSTMStateTuple", "RNNCell"]

#: an LSTM's state: the cell ``c`` and the output ``h`` (TF1's field order)
LSTMStateTuple = namedtuple("LSTMStateTuple", ["c", "h"])


class RNNCell:
    """Base of the cells: ``cell(inputs, state) -> (output, new_state)``."""

    _default_name = "rnn_cell"
    _gates = 1

    def __init__(self, num_units: int, activation: Callable[[Tensor], Tensor] | None = None,
                 reuse: Any = None, name: str | None = None) -> None:
        self._num_units = int(num_units)
        self._activation = activation or tanh
        self._name = name or self._default_name
        self._reuse = reuse
        self._kernel: Tensor | None = None
        self._bias: Tensor | None = None

    @property
    def output_size(self) -> int:
        return self._num_units

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """Zeros of shape (batch_size, units) per state part; ``batch_size`` may be a tensor
        whose first dimension is the batch (an input), for batches of unknown size."""
        return self._zeros(batch_size, dt.as_dtype(dtype))

    def _zeros(self, batch: Any, dtype: dt.DType) -> Tensor:
        if isinstance(batch, Tensor):  # (batch, k) of unknown batch -> (batch, units)
            first = zeros_like(batch[:, :1], dtype=dtype)
            return add(first, zeros([self._num_units], dtype))
        return zeros([int(batch), self._num_units], dtype)

    def _weights(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        if self._kernel is None:
            depth = inputs.shape.as_list()[-1]
            if depth is None:
                raise ValueError(f"{type(self).__name__}: the last dimension of {inputs} must "
                                 "be known")
            with variable_scope(self._name, reuse=self._reuse):
                self._kernel = get_variable(
                    "kernel", [depth + self._num_units, self._gates * self._num_units],
                    dtype=inputs.dtype)
                self._bias = get_variable("bias", [self._gates * self._num_units],
                                          dtype=inputs.dtype, initializer=zeros_initializer())
        assert self._bias is not None
        return self._kernel, self._bias

    def _affine(self, inputs: Tensor, h: Tensor) -> Tensor:
        kernel, bias = self._weights(inputs)
        return add(matmul(concat([inputs, h], 1), kernel), bias)


class BasicRNNCell(RNNCell):
    """``h' = activation([x, h] kernel + bias)``; output and state are both ``h'``."""

    _default_name = "basic_rnn_cell"

    @property
    def state_size(self) -> int:
        return self._num_units

    def __call__(self, inputs: Any, state: Tensor, scope: Any = None) -> tuple[Tensor, Tensor]:
        inputs = convert_to_tensor(inputs)
        new = self._activation(self._affine(inputs, state))
        return new, new


class BasicLSTMCell(RNNCell):
    """TF1's LSTM cell (no peepholes, no projection); state ``LSTMStateTuple(c, h)``."""

    _default_name = "basic_lstm_cell"
    _gates = 4

    def __init__(self, num_units: int, forget_bias: float = 1.0, state_is_tuple: bool = True,
                 activation: Callable[[Tensor], Tensor] | None = None, reuse: Any = None,
                 name: str | None = None) -> None:
        if not state_is_tuple:
            raise NotImplementedError("BasicLSTMCell: only state_is_tuple=True is supported")
        super().__init__(num_units, activation, reuse, name)
        self._forget_bias = forget_bias

    @property
    def state_size(self) -> LSTMStateTuple:
        return LSTMStateTuple(self._num_units, self._num_units)

    def zero_state(self, batch_size: Any, dtype: Any) -> LSTMStateTuple:
        # two tensors, not one twice: a program may feed c and h different values
        dtype = dt.as_dtype(dtype)
        return LSTMStateTuple(self._zeros(batch_size, dtype), self._zeros(batch_size, dtype))

    def __call__(self, inputs: Any, state: LSTMStateTuple,
                 scope: Any = None) -> tuple[Tensor, LSTMStateTuple]:
        inputs = convert_to_tensor(inputs)
        c, h = state
        i, j, f, o = split(self._affine(inputs, h), 4, axis=1)
        # (the update PyTorch's nn.LSTM runs too; TF1 adds forget_bias to the forget gate)
        new_h, new_c = composites.lstm_update(c, i, add(f, self._forget_bias), j, o,
                                              self._activation)
        return new_h, LSTMStateTuple(new_c, new_h)


def static_rnn(cell: RNNCell, inputs: Sequence[Any], initial_state: Any = None,
               dtype: Any = None, sequence_length: Any = None,
               scope: Any = None) -> tuple[list[Tensor], Any]:
    """Runs ``cell`` over a list of (batch, depth) inputs: (outputs, final state)."""
    if sequence_length is not None:
        raise NotImplementedError("static_rnn: sequence_length is not supported; pad the batch "
                                  "to one length, or bucket batches by length")
    steps = [convert_to_tensor(x) for x in inputs]
    if not steps:
        raise ValueError("static_rnn: inputs must not be empty")
    with variable_scope(scope or "rnn"):
        if initial_state is None:
            if dtype is None:
                raise ValueError("If no initial_state is provided, dtype must be specified")
            initial_state = cell.zero_state(steps[0], dtype)
        state, outputs = initial_state, []
        for x in steps:
            output, state = cell(x, state)
            outputs.append(output)
    return outputs, state


def dynamic_rnn(cell: RNNCell, inputs: Any, sequence_length: Any = None,
                initial_state: Any = None, dtype: Any = None, time_major: bool = False,
                scope: Any = None, **_: Any) -> tuple[Tensor, Any]:
    """``static_rnn`` over the time axis of ``inputs`` (batch, time, depth), or (time, batch,
    depth) with ``time_major``: outputs stacked back on that axis, and the final state. The
    time axis must have a known length (the graph is unrolled)."""
    if sequence_length is not None:
        raise NotImplementedError("dynamic_rnn: sequence_length is not supported; pad the "
                                  "batch to one length, or bucket batches by length")
    inputs = convert_to_tensor(inputs)
    axis = 0 if time_major else 1
    if inputs.shape.ndims != 3 or inputs.shape.as_list()[axis] is None:
        raise ValueError(f"dynamic_rnn: inputs {inputs} need 3 dimensions and a known time "
                         "length (a static graph unrolls the loop)")
    outputs, state = static_rnn(cell, unstack(inputs, axis=axis), initial_state, dtype,
                                scope=scope)
    return stack(outputs, axis=axis), state


# LSTMCell, GRUCell, MultiRNNCell, DropoutWrapper (issue 21): below, as they build on the above
from .rnn_cells import DropoutWrapper, GRUCell, LSTMCell, MultiRNNCell  # noqa: E402

__all__ += ["DropoutWrapper", "GRUCell", "LSTMCell", "MultiRNNCell"]


def __getattr__(name: str) -> object:
    """``tf.nn.rnn_cell.<name>`` that tapeflow lacks: an error naming the closest names."""
    from .unsupported import miss

    raise miss("tf.nn.rnn_cell", name)
