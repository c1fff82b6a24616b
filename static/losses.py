"""``tf.losses``: TF1's loss functions, reducing to a scalar by default.

The per-element math is the runtime's composites; this module adds TF1's weights and
reduction rules (``Reduction.SUM_BY_NONZERO_WEIGHTS`` is the default: with the default
weight of 1 that is the mean).
"""

from __future__ import annotations

from typing import Any

from ..runtime import composites
from .graph import get_default_graph, graph_of
from .ops import cast, divide, multiply, not_equal, reduce_mean, reduce_sum
from .sources import call, convert_to_tensor, ones_like
from .tensor import Tensor

__all__ = ["Reduction", "mean_squared_error", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy"]


class Reduction:
    """How a loss reduces its per-element values (TF1 ``tf.losses.Reduction``)."""

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_BY_NONZERO_WEIGHTS = SUM_OVER_NONZERO_WEIGHTS


def _reduce(per: Tensor, weights: Any, reduction: str) -> Tensor:
    weighted = per if _is_one(weights) else multiply(per, weights)
    if reduction == Reduction.NONE:
        return weighted
    if reduction == Reduction.SUM:
        return reduce_sum(weighted, name="value")
    if _is_one(weights) or (reduction == Reduction.SUM_OVER_BATCH_SIZE):
        return reduce_mean(weighted, name="value")
    full = multiply(ones_like(per), weights)
    if reduction == Reduction.MEAN:
        return divide(reduce_sum(weighted), reduce_sum(full), name="value")
    if reduction == Reduction.SUM_OVER_NONZERO_WEIGHTS:
        count = reduce_sum(cast(not_equal(full, 0), per.dtype))
        return divide(reduce_sum(weighted), count, name="value")
    raise ValueError(f"Invalid Reduction Key {reduction!r}")


def _is_one(weights: Any) -> bool:
    return not isinstance(weights, Tensor) and isinstance(weights, (int, float)) and weights == 1


def _scope(scope: str | None, default: str, values: list[Any]) -> Any:
    graph = graph_of(values) if any(isinstance(v, Tensor) for v in values) else \
        get_default_graph()
    return graph.name_scope(scope or default)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0,
                       scope: str | None = None, loss_collection: Any = None,
                       reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """(predictions - labels)^2, weighted and reduced (a scalar by default).

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     loss = tf.losses.mean_squared_error([1.0, 0.0], tf.constant([0.5, 0.5]))
        ...     print(tf.Session().run(loss))
        0.25
    """
    with _scope(scope, "mean_squared_error", [labels, predictions]):
        if isinstance(labels, Tensor) and isinstance(predictions, Tensor) and \
                labels.dtype is not predictions.dtype:
            labels = cast(labels, predictions.dtype)
        per: Tensor = composites.mean_squared_error(predictions, labels, reduction="none")
        return _reduce(per, weights, reduction)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Cross-entropy of ``logits`` against one-hot labels, reduced (a scalar by default)."""
    with _scope(scope, "softmax_cross_entropy_loss", [onehot_labels, logits]):
        labels = onehot_labels
        if label_smoothing:
            classes = logits.shape[-1]
            labels = call("add", [multiply(labels, 1.0 - label_smoothing),
                                  label_smoothing / classes])
        if isinstance(labels, Tensor):
            labels = call("stop_gradient", [labels], type_="StopGradient")
        per: Tensor = composites.softmax_cross_entropy(logits, labels)
        return _reduce(per, weights, reduction)


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: Any = None,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Binary cross-entropy of ``logits`` against labels in [0, 1], reduced (a scalar by
    default); ``label_smoothing`` moves the labels towards 1/2."""
    from .nn import sigmoid_cross_entropy_with_logits

    with _scope(scope, "sigmoid_cross_entropy_loss", [multi_class_labels, logits]):
        logits = convert_to_tensor(logits)
        labels = convert_to_tensor(multi_class_labels, dtype=None if isinstance(
            multi_class_labels, Tensor) else logits.dtype)
        if labels.dtype is not logits.dtype:
            labels = cast(labels, logits.dtype)  # (TF1 casts the labels to the logits' dtype)
        if label_smoothing:
            labels = call("add", [multiply(labels, 1.0 - label_smoothing),
                                  0.5 * label_smoothing])
        per = sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        return _reduce(per, weights, reduction)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0,
                                 scope: str | None = None, loss_collection: Any = None,
                                 reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Cross-entropy of ``logits`` against integer class ids, reduced (a scalar by default)."""
    classes = logits.shape[-1]
    if classes is None:
        raise ValueError(f"sparse_softmax_cross_entropy: the last dimension of {logits} "
                         "must be known")
    with _scope(scope, "sparse_softmax_cross_entropy_loss", [labels, logits]):
        per: Tensor = composites.sparse_softmax_cross_entropy(logits, labels)
        return _reduce(per, weights, reduction)


def __getattr__(name: str) -> object:
    """``tf.losses.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("tf.losses", name)


# absolute_difference, huber_loss, cosine_distance (issue 21): below, as they build on _reduce
from .losses_more import absolute_difference, cosine_distance, huber_loss  # noqa: E402

__all__ += ["absolute_difference", "cosine_distance", "huber_loss"]
