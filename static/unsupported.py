"""The well-known TF1 names tapeflow does not implement, and the error that says so.

``tf``, ``tf.nn``, ``tf.train``, ``tf.losses``, ``tf.math`` and ``tf.layers`` each define a
module-level ``__getattr__`` that raises :func:`miss`: a name listed here raises
:class:`~tapeflow.runtime.missing.UnsupportedNameError` (a ``NotImplementedError`` and an
``AttributeError``), with the closest supported names and a pointer to
``docs/compatibility.md``; a name not listed (a typo) raises a plain ``AttributeError``
with the same suggestions.
"""

from __future__ import annotations

from ..runtime.missing import missing

_CONV = "convolutions and pooling are not part of tapeflow; build layers from tf.matmul"
_NO_OP = ""  # nothing closer to say than the suggestions
_DYNAMIC_SHAPE = ("shapes are static here: use tensor.shape / tensor.get_shape() (None for "
                  "unknown dimensions)")
_LOSS = ("losses implemented: mean_squared_error, softmax_cross_entropy, "
         "sparse_softmax_cross_entropy, sigmoid_cross_entropy, absolute_difference, "
         "huber_loss, cosine_distance")

#: Well-known TF1 names tapeflow does not implement, per namespace -> a short note.
MISSING: dict[str, dict[str, str]] = {
    "tf": {
        "contrib": "it left TensorFlow in 2.0; use the core tf.nn, tf.losses and tf.train names",
        "keras": "tapeflow.dynamic has torch-style nn modules",
        "estimator": "write the Session loop",
        "data": "feed numpy batches through feed_dict",
        **dict.fromkeys(["app", "flags", "logging", "gfile", "io", "saved_model", "image",
                         "sparse", "SparseTensor", "distributions", "linalg", "random",
                         "lite", "tpu", "profiler"], "namespace not implemented"),
        **dict.fromkeys(["case", "map_fn"],
                        "control flow implemented: while_loop, cond, scan, foldl"),
        **dict.fromkeys(["size", "rank", "shape_n", "dynamic_partition"],
                        _DYNAMIC_SHAPE),
        **dict.fromkeys(["tile", "pad", "slice", "strided_slice", "gather_nd", "scatter_nd",
                         "boolean_mask", "reverse", "einsum", "tensordot",
                         "cumsum", "cumprod", "reduce_prod", "reduce_logsumexp", "norm",
                         "floor", "ceil", "round", "tan", "rsqrt", "erf", "mod",
                         "floordiv", "matrix_inverse", "matrix_determinant", "diag",
                         "random_shuffle", "multinomial", "top_k", "unique", "sort"],
                        _NO_OP),
        **dict.fromkeys(["Print", "print", "py_func", "numpy_function", "Assert"],
                        "host callbacks are not implemented; fetch the tensor with sess.run"),
        "get_variable_initializer": "",
        **dict.fromkeys(["variance_scaling_initializer", "orthogonal_initializer",
                         "uniform_unit_scaling_initializer", "he_normal", "he_uniform"],
                        "initializers implemented: zeros, ones, constant, random_normal, "
                        "truncated_normal, random_uniform, glorot_uniform, glorot_normal"),
    },
    "tf.nn": {
        **dict.fromkeys(["conv1d", "conv2d", "conv3d", "conv2d_transpose", "depthwise_conv2d",
                         "separable_conv2d", "max_pool", "avg_pool", "pool"], _CONV),
        **dict.fromkeys(["bidirectional_dynamic_rnn", "raw_rnn", "static_bidirectional_rnn"],
                        "recurrent helpers implemented: static_rnn, dynamic_rnn (a while loop)"),
        **dict.fromkeys(["batch_normalization", "fused_batch_norm",
                         "local_response_normalization", "l2_normalize"],
                        "normalisation ops are not implemented"),
        **dict.fromkeys(["crelu", "swish"], "activations implemented: relu, sigmoid, tanh, "
                                            "softmax, log_softmax, softplus, softsign, elu, "
                                            "selu, leaky_relu, relu6, log_sigmoid"),
        **dict.fromkeys(["weighted_cross_entropy_with_logits", "nce_loss",
                         "sampled_softmax_loss", "ctc_loss"],
                        "cross-entropies implemented: softmax_cross_entropy_with_logits(_v2), "
                        "sparse_softmax_cross_entropy_with_logits, "
                        "sigmoid_cross_entropy_with_logits"),
        **dict.fromkeys(["top_k", "in_top_k", "xw_plus_b", "embedding_lookup_sparse"], _NO_OP),
    },
    "tf.train": {
        **dict.fromkeys(["AdadeltaOptimizer", "FtrlOptimizer",
                         "ProximalGradientDescentOptimizer", "SyncReplicasOptimizer"],
                        "optimizers implemented: GradientDescentOptimizer, MomentumOptimizer, "
                        "AdamOptimizer, RMSPropOptimizer, AdagradOptimizer"),
        **dict.fromkeys(["piecewise_constant", "polynomial_decay",
                         "cosine_decay", "inverse_time_decay"],
                        "learning-rate schedules are not implemented; feed the rate through a "
                        "placeholder"),
        **dict.fromkeys(["Coordinator", "start_queue_runners", "QueueRunner", "batch",
                         "shuffle_batch", "string_input_producer", "slice_input_producer"],
                        "input queues are not implemented; feed numpy batches"),
        **dict.fromkeys(["MonitoredTrainingSession", "MonitoredSession", "Supervisor",
                         "Scaffold", "SessionRunHook", "StopAtStepHook",
                         "CheckpointSaverHook"], "use tf.Session and tf.train.Saver"),
        "ExponentialMovingAverage": "",
        "import_meta_graph": "graphs are rebuilt from code; restore variables with Saver",
    },
    "tf.losses": {
        **dict.fromkeys(["log_loss", "hinge_loss", "mean_pairwise_squared_error"],
                        _LOSS),
        **dict.fromkeys(["get_total_loss", "get_regularization_loss", "get_losses",
                         "add_loss"], "loss collections are not implemented; add the losses "
                                      "yourself"),
    },
    "tf.layers": {
        **dict.fromkeys(["conv1d", "conv2d", "conv3d", "max_pooling2d", "average_pooling2d",
                         "conv2d_transpose", "separable_conv2d"], _CONV),
        **dict.fromkeys(["flatten", "Dense", "Layer"],
                        "tf.layers.dense, dropout and batch_normalization are implemented; "
                        "build the rest from tf ops"),
    },
    "tf.nn.rnn_cell": {
        **dict.fromkeys(["ResidualWrapper", "DeviceWrapper"],
                        "cells implemented: BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell, "
                        "MultiRNNCell, DropoutWrapper"),
    },
    "tf.math": {
        **dict.fromkeys(["floor", "ceil", "round", "tan", "rsqrt", "erf", "mod",
                         "floordiv", "cumsum", "cumprod", "reduce_prod", "reduce_logsumexp",
                         "top_k", "in_top_k", "segment_sum",
                         "unsorted_segment_sum", "l2_normalize"], _NO_OP),
    },
}

_MODULES = {"tf": "tapeflow.static", "tf.nn": "tapeflow.static.nn",
            "tf.train": "tapeflow.static.train", "tf.losses": "tapeflow.static.losses",
            "tf.math": "tapeflow.static.math", "tf.layers": "tapeflow.static.layers",
            "tf.nn.rnn_cell": "tapeflow.static.rnn_cell"}


def miss(spelled: str, name: str) -> AttributeError | ImportError:
    """The error for ``<spelled>.<name>`` (``tf.contrib``): see :mod:`tapeflow.runtime.missing`.

    Example:
        >>> import tapeflow.static as tf
        >>> try:
        ...     tf.nn.conv2d
        ... except NotImplementedError as e:
        ...     print(str(e).split(" (")[0])
        tapeflow.static.nn does not implement tf.nn.conv2d
    """
    return missing(_MODULES[spelled], spelled, name, MISSING[spelled])
