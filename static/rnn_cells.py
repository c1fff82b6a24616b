"""More of ``tf.nn.rnn_cell``: ``LSTMCell``, ``GRUCell``, ``MultiRNNCell`` and
``DropoutWrapper``, with TF1's variable names and equations.

``GRUCell`` (TF1): ``r, u = sigmoid([x, h] W_g + b_g)`` (gates bias starts at 1),
``c = tanh([x, r h] W_c + b_c)``, ``h' = u h + (1 - u) c``: the blend is the runtime's
``gru_blend``, which PyTorch's GRU runs too (its reset gate acts after the matmul instead).

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     cells = [tf.nn.rnn_cell.LSTMCell(4), tf.nn.rnn_cell.GRUCell(3)]
    ...     stack = tf.nn.rnn_cell.MultiRNNCell(cells)
    ...     x = tf.placeholder(tf.float32, [None, 5, 2])
    ...     out, state = tf.nn.dynamic_rnn(stack, x, dtype=tf.float32)
    ...     names = [v.name for v in tf.trainable_variables()]
    >>> out.shape.as_list(), names[0], names[2]
    ([None, 5, 3], 'rnn/multi_rnn_cell/cell_0/lstm_cell/kernel:0', 'rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel:0')
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..runtime import composites_rnn
from ..runtime import dtypes as dt
from .ops import add, concat, matmul, multiply, sigmoid, split
from .rnn_cell import BasicLSTMCell, LSTMStateTuple, RNNCell
from .sharing import constant_initializer, get_variable, variable_scope, zeros_initializer
from .sources import convert_to_tensor
from .tensor import Tensor

__all__ = ["DropoutWrapper", "GRUCell", "LSTMCell", "MultiRNNCell"]


class LSTMCell(BasicLSTMCell):
    """TF1's ``LSTMCell`` without peepholes, clipping or projection (those are refused):
    ``BasicLSTMCell``'s equations under the name ``lstm_cell``."""

    _default_name = "lstm_cell"

    def __init__(self, num_units: int, use_peepholes: bool = False, cell_clip: Any = None,
                 initializer: Any = None, num_proj: Any = None, proj_clip: Any = None,
                 forget_bias: float = 1.0, state_is_tuple: bool = True,
                 activation: Callable[[Tensor], Tensor] | None = None, reuse: Any = None,
                 name: str | None = None, **_: Any) -> None:
        unsupported = {"use_peepholes": use_peepholes, "cell_clip": cell_clip,
                       "num_proj": num_proj, "proj_clip": proj_clip}
        asked = [k for k, v in unsupported.items() if v not in (None, False)]
        if asked:
            raise NotImplementedError(f"LSTMCell: {', '.join(asked)} not supported")
        super().__init__(num_units, forget_bias, state_is_tuple, activation, reuse, name)


class GRUCell(RNNCell):
    """TF1's ``GRUCell``: variables ``gates/kernel``, ``gates/bias`` (ones),
    ``candidate/kernel``, ``candidate/bias`` (zeros) under ``gru_cell``."""

    _default_name = "gru_cell"

    def __init__(self, num_units: int, activation: Callable[[Tensor], Tensor] | None = None,
                 reuse: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, name: str | None = None, **_: Any) -> None:
        super().__init__(num_units, activation, reuse, name)
        self._kernel_initializer, self._bias_initializer = kernel_initializer, bias_initializer
        self._vars: dict[str, Tensor] = {}

    @property
    def state_size(self) -> int:
        return self._num_units

    def _weights(self, inputs: Tensor) -> Any:
        # made on the first call, or before a tf.while_loop (dynamic_rnn) asks for them
        return self._make(inputs)

    def _make(self, inputs: Tensor) -> dict[str, Tensor]:
        if not self._vars:
            depth = inputs.shape.as_list()[-1]
            if depth is None:
                raise ValueError(f"GRUCell: the last dimension of {inputs} must be known")
            n, kind = self._num_units, inputs.dtype
            with variable_scope(self._name, reuse=self._reuse):
                for part, width, bias in (("gates", 2 * n, constant_initializer(1.0)),
                                          ("candidate", n, zeros_initializer())):
                    with variable_scope(part):
                        self._vars[f"{part}/kernel"] = get_variable(
                            "kernel", [depth + n, width], dtype=kind,
                            initializer=self._kernel_initializer)
                        self._vars[f"{part}/bias"] = get_variable(
                            "bias", [width], dtype=kind,
                            initializer=self._bias_initializer or bias)
        return self._vars

    def __call__(self, inputs: Any, state: Tensor, scope: Any = None) -> tuple[Tensor, Tensor]:
        inputs = convert_to_tensor(inputs)
        v = self._make(inputs)
        gates = sigmoid(add(matmul(concat([inputs, state], 1), v["gates/kernel"]),
                            v["gates/bias"]))
        r, u = split(gates, 2, axis=1)
        candidate = add(matmul(concat([inputs, multiply(r, state)], 1), v["candidate/kernel"]),
                        v["candidate/bias"])
        new_h = composites_rnn.gru_blend(state, u, self._activation(candidate))
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """Cells stacked: each one's output is the next one's input; the state is a tuple of
    their states, and each cell's variables live under ``multi_rnn_cell/cell_<i>``."""

    _default_name = "multi_rnn_cell"

    def __init__(self, cells: Sequence[Any], state_is_tuple: bool = True) -> None:
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not state_is_tuple:
            raise NotImplementedError("MultiRNNCell: only state_is_tuple=True is supported")
        super().__init__(0)
        self._cells = list(cells)

    @property
    def state_size(self) -> tuple[Any, ...]:
        return tuple(cell.state_size for cell in self._cells)

    @property
    def output_size(self) -> int:
        return int(self._cells[-1].output_size)

    def zero_state(self, batch_size: Any, dtype: Any) -> tuple[Any, ...]:
        return tuple(cell.zero_state(batch_size, dtype) for cell in self._cells)

    def _weights(self, inputs: Tensor) -> None:
        # each cell's variables, made in the scopes its calls use; a cell's input width is
        # the previous cell's output size
        from .sources import zeros

        with variable_scope(self._name):
            for i, cell in enumerate(self._cells):
                with variable_scope(f"cell_{i}"):
                    if hasattr(cell, "_weights"):
                        cell._weights(inputs)
                inputs = zeros([1, int(cell.output_size)], inputs.dtype)

    def __call__(self, inputs: Any, state: Sequence[Any], scope: Any = None
                 ) -> tuple[Tensor, tuple[Any, ...]]:
        if len(state) != len(self._cells):
            raise ValueError(f"Expected state to be a tuple of length {len(self._cells)}, "
                             f"but received: {state}")
        new_states = []
        with variable_scope(self._name):
            for i, (cell, cell_state) in enumerate(zip(self._cells, state, strict=True)):
                with variable_scope(f"cell_{i}"):
                    inputs, new_state = cell(inputs, cell_state)
                new_states.append(new_state)
        return inputs, tuple(new_states)


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs, outputs and (for an LSTM, its h only, as TF1's default
    filter) new state; keep probabilities may be tensors (a placeholder fed 1.0 at test)."""

    def __init__(self, cell: Any, input_keep_prob: Any = 1.0, output_keep_prob: Any = 1.0,
                 state_keep_prob: Any = 1.0, variational_recurrent: bool = False,
                 input_size: Any = None, dtype: Any = None, seed: int | None = None,
                 **_: Any) -> None:
        if variational_recurrent:
            raise NotImplementedError("DropoutWrapper: variational_recurrent is not supported")
        super().__init__(0)
        self._cell, self._seed = cell, seed
        self._keep = (input_keep_prob, output_keep_prob, state_keep_prob)

    @property
    def state_size(self) -> Any:
        return self._cell.state_size

    @property
    def output_size(self) -> Any:
        return self._cell.output_size

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        return self._cell.zero_state(batch_size, dt.as_dtype(dtype))

    def _weights(self, inputs: Tensor) -> None:
        if hasattr(self._cell, "_weights"):
            self._cell._weights(inputs)

    def _drop(self, x: Tensor, keep: Any) -> Tensor:
        from .nn import dropout

        if not isinstance(keep, Tensor) and float(keep) == 1.0:
            return x
        return dropout(x, keep_prob=keep, seed=self._seed)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Tensor, Any]:
        keep_in, keep_out, keep_state = self._keep
        output, new_state = self._cell(self._drop(convert_to_tensor(inputs), keep_in), state)
        if isinstance(new_state, LSTMStateTuple):
            new_state = LSTMStateTuple(new_state.c, self._drop(new_state.h, keep_state))
        elif isinstance(new_state, Tensor):
            new_state = self._drop(new_state, keep_state)
        return self._drop(output, keep_out), new_state
