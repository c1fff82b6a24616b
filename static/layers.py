"""``tf.layers``: TF 1.x's ``dense`` layer, built on variable scopes and ``get_variable``.

``tf.layers.dense(x, units)`` opens a variable scope (``dense``, ``dense_1``... unless
``name`` is given), makes ``kernel`` (Glorot uniform) and ``bias`` (zeros) there with
``tf.get_variable``, and returns ``activation(x @ kernel + bias)``. Calling it again with
the same ``name`` and ``reuse=True`` (or inside a reusing scope) shares the weights.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, 3])
    ...     y = tf.layers.dense(x, 4, activation=tf.nn.relu)
    ...     print(y.shape, [v.name for v in tf.trainable_variables()])
    (?, 4) ['dense/kernel:0', 'dense/bias:0']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .nn import bias_add
from .ops import matmul
from .sharing import Initializer, get_variable, variable_scope, zeros_initializer
from .sources import convert_to_tensor
from .tensor import Tensor

__all__ = ["dense"]


def dense(inputs: Any, units: int, activation: Callable[[Tensor], Tensor] | None = None,
          use_bias: bool = True, kernel_initializer: Initializer | None = None,
          bias_initializer: Initializer | None = None, trainable: bool = True,
          name: str | None = None, reuse: Any = None) -> Tensor:
    """``activation(inputs @ kernel + bias)`` over the last axis of ``inputs``."""
    inputs = convert_to_tensor(inputs)
    features = inputs.shape.as_list()[-1] if inputs.shape.ndims else None
    if features is None:
        raise ValueError("The last dimension of the inputs to `Dense` should be defined. "
                         "Found `None`.")
    with variable_scope(name, default_name="dense", reuse=reuse):
        kernel = get_variable("kernel", [features, units], dtype=inputs.dtype,
                              initializer=kernel_initializer, trainable=trainable)
        outputs = matmul(inputs, kernel, name="MatMul") if inputs.shape.ndims == 2 else \
            _matmul_last_axis(inputs, kernel)
        if use_bias:
            bias = get_variable("bias", [units], dtype=inputs.dtype,
                                initializer=bias_initializer or zeros_initializer(),
                                trainable=trainable)
            outputs = bias_add(outputs, bias, name="BiasAdd")
        return activation(outputs) if activation is not None else outputs


def _matmul_last_axis(inputs: Tensor, kernel: Tensor) -> Tensor:
    # (..., features) @ (features, units): the registry's matmul broadcasts the leading axes
    from .sources import call

    return call("matmul", [inputs, kernel], name="Tensordot", type_="MatMul")


def __getattr__(name: str) -> object:
    """``tf.layers.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("tf.layers", name)


from .plumbing import layers_dropout as dropout  # noqa: E402  (issue 21)

__all__ += ["dropout"]
from .layers_norm import batch_normalization  # noqa: E402  (issue 21)

__all__ += ["batch_normalization"]
