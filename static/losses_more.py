"""More of ``tf.losses``: ``absolute_difference``, ``huber_loss`` and ``cosine_distance``,
with TF1's weights and reductions (``static/losses.py``'s ``_reduce``) over the runtime's
per-element composites (``runtime/composites_losses.py``), the same PyTorch's
``l1_loss``/``huber_loss`` use.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     loss = tf.losses.huber_loss([0.0, 0.0], tf.constant([0.5, 3.0]))
    ...     print(tf.Session().run(loss))
    1.3125
"""

from __future__ import annotations

from typing import Any

from ..runtime import composites_losses as losses
from .losses import Reduction, _reduce, _scope
from .ops import cast, reduce_sum, subtract
from .sources import convert_to_tensor
from .tensor import Tensor

__all__ = ["absolute_difference", "cosine_distance", "huber_loss"]


def _pair(labels: Any, predictions: Any) -> tuple[Tensor, Tensor]:
    predictions = convert_to_tensor(predictions)
    labels = convert_to_tensor(labels)
    if labels.dtype is not predictions.dtype:
        labels = cast(labels, predictions.dtype)
    return labels, predictions


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0,
                        scope: str | None = None, loss_collection: Any = None,
                        reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``|predictions - labels|``, weighted and reduced (a scalar by default)."""
    with _scope(scope, "absolute_difference", [labels, predictions]):
        labels, predictions = _pair(labels, predictions)
        return _reduce(losses.absolute_difference(predictions, labels), weights, reduction)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0,
               scope: str | None = None, loss_collection: Any = None,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``0.5 e^2`` where ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``, with
    ``e = predictions - labels``; weighted and reduced."""
    with _scope(scope, "huber_loss", [labels, predictions]):
        labels, predictions = _pair(labels, predictions)
        return _reduce(losses.huber(predictions, labels, delta), weights, reduction)


def cosine_distance(labels: Any, predictions: Any, axis: int | None = None,
                    weights: Any = 1.0, scope: str | None = None, loss_collection: Any = None,
                    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
                    dim: int | None = None) -> Tensor:
    """``1 - sum(labels * predictions, axis)`` for unit-normalised inputs (as TF1 assumes)."""
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("You must specify 'axis'.")
    with _scope(scope, "cosine_distance_loss", [labels, predictions]):
        labels, predictions = _pair(labels, predictions)
        agreement = reduce_sum(predictions * labels, axis=axis, keepdims=True)
        return _reduce(subtract(1.0, agreement), weights, reduction)
