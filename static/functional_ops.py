"""``tf.nn.dynamic_rnn``, ``tf.scan`` and ``tf.foldl``: ``tf.while_loop`` as TF1 uses it.

``dynamic_rnn`` is one loop over time whatever the length: the graph is compiled once and
each run iterates as many times as its batch's longest sentence needs. With
``sequence_length`` it follows TF1's rules: past a sentence's length its output is zero and
its state is carried through unchanged, so the final state is each sentence's state at its
own last step.

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, None, 3])
    ...     lengths = tf.placeholder(tf.int32, [None])
    ...     outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(4), x,
    ...                                        sequence_length=lengths, dtype=tf.float32)
    ...     with tf.Session() as sess:
    ...         sess.run(tf.global_variables_initializer())
    ...         out = sess.run(outputs, {x: np.ones((2, 5, 3)), lengths: [5, 2]})
    >>> out.shape, bool((out[1, 2:] == 0).all())
    ((2, 5, 4), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..runtime import dtypes as dt
from . import nest
from .control_flow import while_loop
from .ops import add, cast, gather, less, reduce_max, reshape, transpose, where
from .sharing import variable_scope
from .sources import call, convert_to_tensor, zeros, zeros_like
from .tensor import Tensor
from .tensor_array import TensorArray

__all__ = ["dynamic_rnn", "foldl", "scan"]


def _steps(x: Tensor) -> Tensor:
    """The length of ``x``'s first axis as an int32 scalar (known or not when building)."""
    if x.shape[0] is not None:
        return convert_to_tensor(int(x.shape[0]), dt.int32)
    return TensorArray(x.dtype, buffer=x).size()


def _zeros_rows(x: Tensor, width: int, dtype: dt.DType) -> Tensor:
    """Zeros of shape ``x.shape[:-1] + (width,)`` (leading dims may be unknown)."""
    return add(zeros_like(x[..., :1], dtype=dtype), zeros([width], dtype))


def dynamic_rnn(cell: Any, inputs: Any, sequence_length: Any = None, initial_state: Any = None,
                dtype: Any = None, parallel_iterations: Any = None, swap_memory: bool = False,
                time_major: bool = False, scope: Any = None) -> tuple[Tensor, Any]:
    """Runs ``cell`` over time in one ``tf.while_loop``: (outputs, final state).

    Args:
        cell: an RNN cell (``BasicRNNCell``, ``BasicLSTMCell``); its variables are made
            before the loop, under ``scope`` (default ``rnn``).
        inputs: (batch, time, depth), or (time, batch, depth) with ``time_major``; batch and
            time may be unknown when building.
        sequence_length: (batch,) ints: each sentence's length. Past it, outputs are zero and
            the state is carried through; the loop stops at the longest one.
        initial_state: the cell's starting state (default: its zero state in ``dtype``).
        dtype: the state's dtype when ``initial_state`` is not given.
        parallel_iterations, swap_memory: accepted for TF1's signature.
        time_major: whether time is the first axis of ``inputs`` and outputs.
        scope: the variable scope (default ``rnn``).
    """
    inputs = convert_to_tensor(inputs)
    if inputs.shape.ndims != 3 or inputs.shape[2] is None:
        raise ValueError(f"dynamic_rnn: inputs {inputs} need 3 dimensions and a known depth")
    steps_first = inputs if time_major else transpose(inputs, [1, 0, 2])
    with variable_scope(scope or "rnn"):
        if initial_state is None:
            if dtype is None:
                raise ValueError("If there is no initial_state, you must give a dtype.")
            initial_state = cell.zero_state(steps_first[0], dtype)
        if hasattr(cell, "_weights"):  # the cell's variables exist before the loop (TF1 lifts)
            cell._weights(steps_first[0])
        state_dtype = nest.flatten(initial_state)[0][0].dtype
        total = _steps(steps_first)
        bound = total
        lengths = None
        if sequence_length is not None:
            lengths = cast(sequence_length, dt.int32)
            bound = call("minimum", [total, reduce_max(lengths)], type_="Minimum")
        out = TensorArray(state_dtype, buffer=_zeros_rows(steps_first, cell.output_size,
                                                          state_dtype))
        if lengths is not None:  # (made before the loop: the body reads them as they are)
            column = reshape(lengths, [-1, 1])
            zero_output = _zeros_rows(steps_first[0], cell.output_size, state_dtype)

        def body(t: Tensor, out: TensorArray, state: Any) -> tuple[Any, ...]:
            output, new_state = cell(gather(steps_first, t), state)
            if lengths is not None:
                # TF1's select: (batch, 1) true for the sentences still running at t; the
                # others output zeros and keep their state (one op each, and two where ops
                # in the gradient)
                alive = less(t, column)
                output = where(alive, output, zero_output)
                new_state = nest.pack(nest.flatten(state)[1], [
                    where(alive, new, old) for new, old in
                    zip(nest.flatten(new_state)[0], nest.flatten(state)[0], strict=True)])
            return t + 1, out.write(t, output), new_state

        _, out, state = while_loop(lambda t, *_: less(t, bound), body,
                                   [convert_to_tensor(0, dt.int32), out, initial_state])
    outputs = out.stack()
    return (outputs if time_major else transpose(outputs, [1, 0, 2])), state


def scan(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any = None,
         back_prop: bool = True, name: str = "scan") -> Tensor:
    """The running values ``a_t = fn(a_{t-1}, elems[t])``, stacked (TF1 ``tf.scan``).

    Without ``initializer`` the first element starts the scan. One tensor of elems and one
    accumulator tensor here.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     sums = tf.scan(lambda a, x: a + x, tf.constant([1.0, 2.0, 3.0]))
        ...     print(tf.Session().run(sums))
        [1. 3. 6.]
    """
    elems = convert_to_tensor(elems)
    start = 0 if initializer is not None else 1
    first = convert_to_tensor(initializer) if initializer is not None else elems[0]
    out = TensorArray(first.dtype, buffer=_stacked_zeros(elems, first))
    if start:
        out = out.write(0, first)
    total = _steps(elems)

    def body(t: Tensor, a: Tensor, out: TensorArray) -> tuple[Any, ...]:
        a = fn(a, gather(elems, t))
        return t + 1, a, out.write(t, a)

    _, _, out = while_loop(lambda t, *_: less(t, total), body,
                           [convert_to_tensor(start, dt.int32), first, out],
                           back_prop=back_prop, name=name)
    return out.stack()


def _stacked_zeros(elems: Tensor, like: Tensor) -> Tensor:
    """Zeros of shape (len(elems), *like.shape)."""
    column = zeros_like(elems[(slice(None),) + (0,) * (elems.shape.ndims - 1)], dtype=like.dtype)
    for _ in range(like.shape.ndims):
        column = column[..., None]
    return add(column, zeros_like(like))


def foldl(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any = None,
          back_prop: bool = True, name: str = "foldl") -> Tensor:
    """``fn(...fn(fn(initializer, elems[0]), elems[1])..., elems[-1])`` (TF1 ``tf.foldl``).

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     product = tf.foldl(lambda a, x: a * x, tf.constant([1.0, 2.0, 3.0, 4.0]))
        ...     print(tf.Session().run(product))
        24.0
    """
    elems = convert_to_tensor(elems)
    start = 0 if initializer is not None else 1
    first = convert_to_tensor(initializer) if initializer is not None else elems[0]
    total = _steps(elems)
    _, result = while_loop(lambda t, a: less(t, total),
                           lambda t, a: (t + 1, fn(a, gather(elems, t))),
                           [convert_to_tensor(start, dt.int32), first], back_prop=back_prop,
                           name=name)
    return result

