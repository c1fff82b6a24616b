"""``tf.layers.batch_normalization``: TF1's batch normalisation layer. Variables ``gamma``,
``beta`` (trainable) and ``moving_mean``, ``moving_variance`` (not trainable) under
``batch_normalization`` (``_1``, ``_2``... unless ``name`` is given); in training the batch's
statistics normalise and ``GraphKeys.UPDATE_OPS`` receives the moving-average updates
(``moving = moving * momentum + batch * (1 - momentum)``), which a program runs through
``tf.control_dependencies``; otherwise the moving statistics normalise. ``training`` may
be a Python bool or a boolean tensor (a placeholder), as tutorials feed it. The math is
``runtime/composites_norm.py``'s, the same PyTorch's BatchNorm1d runs.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, 3])
    ...     y = tf.layers.batch_normalization(x, training=True)
    ...     print(len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)),
    ...           [v.name for v in tf.global_variables()][2:])
    2 ['batch_normalization/moving_mean:0', 'batch_normalization/moving_variance:0']
"""

from __future__ import annotations

from typing import Any

from ..runtime import composites_norm as norm
from .graph import get_default_graph
from .ops import cast, where
from .sharing import get_variable, ones_initializer, variable_scope, zeros_initializer
from .sources import convert_to_tensor
from .tensor import Tensor
from .variables import GraphKeys

__all__ = ["batch_normalization"]


def batch_normalization(inputs: Any, axis: int = -1, momentum: float = 0.99,
                        epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                        beta_initializer: Any = None, gamma_initializer: Any = None,
                        moving_mean_initializer: Any = None,
                        moving_variance_initializer: Any = None, training: Any = False,
                        trainable: bool = True, name: str | None = None, reuse: Any = None,
                        **_: Any) -> Tensor:
    """Normalises over every axis but ``axis`` (the features, last by default)."""
    x = convert_to_tensor(inputs)
    rank = x.shape.ndims
    if rank is None or axis not in (-1, rank - 1):
        raise NotImplementedError("batch_normalization: only the last axis as the feature "
                                  "axis is supported (channels last)")
    features = x.shape.as_list()[-1]
    if features is None:
        raise ValueError(f"batch_normalization: the last dimension of {x} must be known")
    with variable_scope(name, default_name="batch_normalization", reuse=reuse):
        def make(what: str, init: Any, default: Any, train: bool) -> Tensor:
            return get_variable(what, [features], dtype=x.dtype, initializer=init or default,
                                trainable=train and trainable)

        gamma = make("gamma", gamma_initializer, ones_initializer(), True) if scale else None
        beta = make("beta", beta_initializer, zeros_initializer(), True) if center else None
        moving_mean = make("moving_mean", moving_mean_initializer, zeros_initializer(), False)
        moving_var = make("moving_variance", moving_variance_initializer, ones_initializer(),
                          False)
        if training is False:
            return norm.scale_shift(norm.normalize(x, moving_mean, moving_var, epsilon),
                                    gamma, beta)
        mean, var = norm.batch_moments(x, tuple(range(rank - 1)))
        batch_y = norm.normalize(x, mean, var, epsilon)
        # (1 - momentum) of the batch when training, none of it otherwise
        rate: Any = 1.0 - momentum if training is True else \
            cast(training, x.dtype) * (1.0 - momentum)
        for variable, value in ((moving_mean, mean), (moving_var, var)):
            update = variable.assign(norm.running_average(variable, _flat(value), rate))
            get_default_graph().add_to_collection(GraphKeys.UPDATE_OPS, update)
        if training is not True:
            moving_y = norm.normalize(x, moving_mean, moving_var, epsilon)
            batch_y = where(training, batch_y, moving_y)
        return norm.scale_shift(batch_y, gamma, beta)


def _flat(t: Tensor) -> Tensor:
    from .ops import reshape

    return reshape(t, [-1])
