"""``tf.metrics.accuracy`` and ``tf.metrics.mean``: streaming metrics as TF1 builds them,
two local variables (``total``, ``count``, in ``GraphKeys.LOCAL_VARIABLES``, initialised
by ``tf.local_variables_initializer()``), a value tensor that reads them, and an update
op that adds a batch and gives the new value.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     acc, update = tf.metrics.accuracy([1, 0, 1], tf.constant([1, 1, 1]))
    ...     with tf.Session() as sess:
    ...         sess.run(tf.local_variables_initializer())
    ...         print(round(float(sess.run(update)), 4), round(float(sess.run(acc)), 4))
    0.6667 0.6667
"""

from __future__ import annotations

from typing import Any

from ..runtime import dtypes as dt
from .graph import get_default_graph
from .ops import cast, equal, identity, multiply, reduce_sum, where
from .sources import convert_to_tensor, ones_like
from .tensor import Tensor
from .variables import GraphKeys, Variable

__all__ = ["accuracy", "mean"]


def _local(name: str) -> Variable:
    return Variable(0.0, trainable=False, collections=[GraphKeys.LOCAL_VARIABLES], name=name)


def _safe_div(numerator: Tensor, denominator: Tensor) -> Tensor:
    # 0 before any update, as TF1's _safe_div
    positive = denominator > 0.0
    return where(positive, numerator / where(positive, denominator, 1.0), 0.0 * numerator)


def mean(values: Any, weights: Any = None, metrics_collections: Any = None,
         updates_collections: Any = None, name: str | None = None) -> tuple[Tensor, Tensor]:
    """The running (weighted) mean of every value seen: ``(mean, update_op)``."""
    with get_default_graph().name_scope(name or "mean"):
        values = cast(convert_to_tensor(values), dt.float32)
        weights = ones_like(values) if weights is None else \
            multiply(ones_like(values), cast(convert_to_tensor(weights), dt.float32))
        total, count = _local("total"), _local("count")
        batch_total, batch_count = reduce_sum(multiply(values, weights)), reduce_sum(weights)
        # an assign's value is the variable's new value, so the update op is their ratio
        new_total, new_count = total.assign_add(batch_total), count.assign_add(batch_count)
        update_op = identity(_safe_div(new_total, new_count), name="update_op")
        return _safe_div(total.value(), count.value()), update_op


def accuracy(labels: Any, predictions: Any, weights: Any = None,
             metrics_collections: Any = None, updates_collections: Any = None,
             name: str | None = None) -> tuple[Tensor, Tensor]:
    """The fraction of ``predictions`` equal to ``labels`` over every batch seen so far:
    ``(accuracy, update_op)``."""
    predictions = convert_to_tensor(predictions)
    labels = convert_to_tensor(labels)
    if labels.dtype is not predictions.dtype:
        labels = cast(labels, predictions.dtype)
    is_correct = cast(equal(predictions, labels), dt.float32)
    return mean(is_correct, weights, name=name or "accuracy")
