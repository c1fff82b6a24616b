"""``tf.nn``: activations, softmax, cross-entropy and embedding lookup, TF1's names.

Cross-entropies are the runtime's composites (``runtime/composites.py``), so both modes
share the math; they return one loss per row, as TF1 does.
"""

from __future__ import annotations

from typing import Any

from ..runtime import composites
from ..runtime import get as get_op
from . import rnn_cell  # (tf.nn.rnn_cell)
from .activations import elu, leaky_relu, log_sigmoid, relu6, selu, softplus, softsign
from .compat_ops import axes_tuple
from .functional_ops import dynamic_rnn  # one tf.while_loop (static/functional_ops.py)
from .graph import get_default_graph, graph_of
from .ops import add, sigmoid, tanh
from .ops import gather as _gather
from .rnn_cell import static_rnn
from .sources import call, convert_to_tensor
from .tensor import Tensor

__all__ = ["bias_add", "dropout", "dynamic_rnn", "embedding_lookup", "l2_loss", "log_softmax",
           "moments", "relu", "rnn_cell", "sigmoid", "sigmoid_cross_entropy_with_logits",
           "softmax", "softmax_cross_entropy_with_logits",
           "softmax_cross_entropy_with_logits_v2", "sparse_softmax_cross_entropy_with_logits",
           "static_rnn", "tanh"]
__all__ += ["elu", "leaky_relu", "log_sigmoid", "relu6", "selu", "softplus", "softsign"]


def relu(features: Any, name: str | None = None) -> Tensor:
    """max(features, 0)."""
    return call("relu", [features], name=name, type_="Relu")


def softmax(logits: Any, axis: int | None = None, name: str | None = None,
            dim: int | None = None) -> Tensor:
    """exp(logits) / sum(exp(logits)) along ``axis`` (default: the last)."""
    axis = dim if axis is None else axis
    return call("softmax", [logits], {"axis": -1 if axis is None else int(axis)}, name=name,
                type_="Softmax")


def log_softmax(logits: Any, axis: int | None = None, name: str | None = None,
                dim: int | None = None) -> Tensor:
    axis = dim if axis is None else axis
    return call("log_softmax", [logits], {"axis": -1 if axis is None else int(axis)},
                name=name, type_="LogSoftmax")


def bias_add(value: Any, bias: Any, name: str | None = None) -> Tensor:
    return add(value, bias, name=name or "BiasAdd")


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    """sum(t ** 2) / 2."""
    t = convert_to_tensor(t)
    with t.graph.name_scope(name or "L2Loss"):
        loss: Tensor = composites.l2_loss(t)
        return loss


def _scope(name: str | None, default: str, values: list[Any]) -> Any:
    graph = graph_of(values) if values else get_default_graph()
    return graph.name_scope(name or default)


def softmax_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any = None,
                                      logits: Any = None, dim: int = -1, axis: int | None = None,
                                      name: str | None = None, stop_labels: bool = True) -> Tensor:
    """-sum(labels * log_softmax(logits)) per row; call it with ``labels=`` and ``logits=``.

    As in TF1, no gradient flows into ``labels`` (``stop_labels``; the ``_v2`` form lets it).

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     loss = tf.nn.softmax_cross_entropy_with_logits(
        ...         labels=[[0.0, 1.0]], logits=tf.constant([[0.0, 0.0]]))
        >>> loss.shape.as_list()
        [1]
    """
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `softmax_cross_entropy_with_logits` with named arguments "
                         "(labels=..., logits=..., ...)")
    axis = dim if axis is None else axis
    with _scope(name, "softmax_cross_entropy_with_logits", [logits, labels]):
        if stop_labels and isinstance(labels, Tensor):
            labels = call("stop_gradient", [labels], type_="StopGradient")
        loss: Tensor = composites.softmax_cross_entropy(logits, labels, axis=axis)
        return loss


def softmax_cross_entropy_with_logits_v2(_sentinel: Any = None, *, labels: Any = None,
                                         logits: Any = None, dim: int = -1,
                                         axis: int | None = None,
                                         name: str | None = None) -> Tensor:
    """As :func:`softmax_cross_entropy_with_logits`, but gradients also flow into labels."""
    return softmax_cross_entropy_with_logits(_sentinel, labels=labels, logits=logits, dim=dim,
                                             axis=axis, name=name, stop_labels=False)


def sparse_softmax_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any = None,
                                             logits: Any = None,
                                             name: str | None = None) -> Tensor:
    """Cross-entropy against integer class ids ``labels`` (one per row of ``logits``)."""
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `sparse_softmax_cross_entropy_with_logits` with named "
                         "arguments (labels=..., logits=..., ...)")
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a Tensor, got {logits!r}")
    classes = logits.shape[-1]
    if classes is None:
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: the number of classes "
                         f"(last dimension of logits {logits}) must be known")
    with _scope(name, "SparseSoftmaxCrossEntropyWithLogits", [logits, labels]):
        loss: Tensor = composites.sparse_softmax_cross_entropy(logits, labels)
        return loss


def sigmoid_cross_entropy_with_logits(_sentinel: Any = None, *, labels: Any = None,
                                      logits: Any = None, name: str | None = None) -> Tensor:
    """Binary cross-entropy of ``logits`` against ``labels`` in [0, 1], per element:
    ``max(x, 0) - x z + log(1 + exp(-|x|))``, which never overflows.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     loss = tf.nn.sigmoid_cross_entropy_with_logits(
        ...         labels=[1.0, 0.0], logits=tf.constant([0.0, 0.0]))
        ...     print([round(float(v), 4) for v in tf.Session().run(loss)])
        [0.6931, 0.6931]
    """
    if _sentinel is not None or labels is None or logits is None:
        raise ValueError("Only call `sigmoid_cross_entropy_with_logits` with named arguments "
                         "(labels=..., logits=..., ...)")
    with _scope(name, "logistic_loss", [logits, labels]):
        logits = convert_to_tensor(logits)
        labels = convert_to_tensor(labels, dtype=None if isinstance(labels, Tensor)
                                   else logits.dtype)
        if labels.dtype is not logits.dtype:
            raise ValueError(f"sigmoid_cross_entropy_with_logits: labels ({labels.dtype.name}) "
                             f"and logits ({logits.dtype.name}) must have the same dtype")
        if not labels.shape.is_compatible_with(logits.shape):
            raise ValueError(f"logits and labels must have the same shape ({logits.shape} vs "
                             f"{labels.shape})")
        loss: Tensor = composites.sigmoid_cross_entropy(logits, labels)
        return loss


def moments(x: Any, axes: Any, shift: Any = None, name: str | None = None,
            keep_dims: bool | None = None, keepdims: bool | None = None) -> tuple[Tensor, Tensor]:
    """The mean and (population) variance of ``x`` over ``axes`` (TF1 ``tf.nn.moments``).

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     mean, var = tf.nn.moments(tf.constant([[1.0, 3.0], [5.0, 7.0]]), axes=[0])
        ...     print(tf.Session().run([mean, var]))
        [array([3., 5.], dtype=float32), array([4., 4.], dtype=float32)]
    """
    keep = bool(keepdims if keepdims is not None else keep_dims)
    x = convert_to_tensor(x)
    with x.graph.name_scope(name or "moments"):
        mean, variance = composites.moments(x, axis=axes_tuple(axes), keepdims=keep)
        return mean, variance


def dropout(x: Any, keep_prob: Any = None, noise_shape: Any = None, seed: int | None = None,
            name: str | None = None, rate: Any = None) -> Tensor:
    """Keeps each element with probability ``keep_prob`` (or ``1 - rate``) and scales the
    kept ones by ``1 / keep_prob``, with a fresh mask every run (TF1's
    ``floor(keep_prob + uniform)``). ``keep_prob`` may be a placeholder: feed 1.0 to turn
    dropout off for evaluation.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     kept = tf.nn.dropout(tf.ones([4]), keep_prob=0.5, seed=1)
        ...     print(sorted(set(tf.Session().run(kept).tolist())) in ([0.0, 2.0], [2.0], [0.0]))
        True
    """
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: give exactly one of keep_prob and rate")
    if noise_shape is not None:
        raise NotImplementedError("dropout: noise_shape is not supported")
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise ValueError(f"dropout: x must be a floating point tensor, got {x.dtype.name}")
    keep = keep_prob
    if keep is None:
        keep = call("sub", [1.0, rate]) if isinstance(rate, Tensor) else 1.0 - float(rate)
    if not isinstance(keep, Tensor) and not 0.0 < float(keep) <= 1.0:
        raise ValueError(f"keep_prob must be a scalar tensor or a float in the range (0, 1], "
                         f"got {keep}")
    graph = x.graph
    with graph.name_scope(name or "dropout"):
        draws = graph.apply(get_op("random_uniform_like"), [x],
                            {"generator": graph.random_generator(seed)}, type_="RandomUniform")
        dropped: Tensor = composites.dropout(x, draws, keep)  # (nn.Dropout runs it too)
        return dropped


def embedding_lookup(params: Any, ids: Any, name: str | None = None) -> Tensor:
    """The rows of ``params`` at ``ids`` (its gradient scatter-adds into those rows)."""
    return _gather(params, ids, axis=0, name=name or "embedding_lookup")


def __getattr__(name: str) -> object:
    """``tf.nn.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("tf.nn", name)
