"""``tf.nn`` activations beyond relu/sigmoid/tanh, with TF1's names and defaults:
``softplus``, ``softsign``, ``elu``, ``selu``, ``leaky_relu`` (alpha 0.2), ``relu6``,
``log_sigmoid`` (also ``tf.log_sigmoid``, ``tf.math.log_sigmoid``). The formulas are the
runtime's (``runtime/composites_activation.py``), the same PyTorch's spellings call.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     y = tf.nn.leaky_relu(tf.constant([-1.0, 2.0]))
    ...     print(tf.Session().run(y))
    [-0.2  2. ]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..runtime import composites_activation as act
from .sources import convert_to_tensor
from .tensor import Tensor

__all__ = ["elu", "leaky_relu", "log_sigmoid", "relu6", "selu", "softplus", "softsign"]


def _scoped(x: Any, name: str | None, default: str, formula: Callable[[Tensor], Tensor]
            ) -> Tensor:
    x = convert_to_tensor(x)
    with x.graph.name_scope(name or default):
        return formula(x)


def softplus(features: Any, name: str | None = None) -> Tensor:
    """``log(exp(features) + 1)``."""
    return _scoped(features, name, "Softplus", act.softplus)


def softsign(features: Any, name: str | None = None) -> Tensor:
    """``features / (abs(features) + 1)``."""
    return _scoped(features, name, "Softsign", act.softsign)


def elu(features: Any, name: str | None = None) -> Tensor:
    """``exp(features) - 1`` if < 0, ``features`` otherwise."""
    return _scoped(features, name, "Elu", act.elu)


def selu(features: Any, name: str | None = None) -> Tensor:
    """``scale * elu(features, alpha)`` with SELU's constants."""
    return _scoped(features, name, "Selu", act.selu)


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """``features`` if > 0, ``alpha * features`` otherwise."""
    return _scoped(features, name, "LeakyRelu", lambda x: act.leaky_relu(x, alpha))


def relu6(features: Any, name: str | None = None) -> Tensor:
    """``min(max(features, 0), 6)``."""
    return _scoped(features, name, "Relu6", act.relu6)


def log_sigmoid(x: Any, name: str | None = None) -> Tensor:
    """``log(1 / (1 + exp(-x)))`` without overflow."""
    return _scoped(x, name, "LogSigmoid", act.log_sigmoid)
