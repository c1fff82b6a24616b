"""The well-known PyTorch names tapeflow does not implement, and the error that says so.

``torch``, ``torch.nn``, ``torch.nn.functional`` and ``torch.optim`` each define a
module-level ``__getattr__`` that raises :func:`miss`: a name listed here raises
:class:`~tapeflow.runtime.missing.UnsupportedNameError` (a ``NotImplementedError`` and an
``AttributeError``), with the closest supported names and a pointer to
``docs/compatibility.md``; a name not listed (a typo) raises a plain ``AttributeError``
with the same suggestions.
"""

from __future__ import annotations

from ..runtime.missing import missing

_CONV = "convolutions and pooling are not part of tapeflow; it has Linear, Embedding and RNN"
_NORM = "normalisation layers implemented: LayerNorm, BatchNorm1d"
_RNN = ("recurrent layers implemented: nn.RNN, nn.RNNCell, nn.LSTM, nn.LSTMCell, nn.GRU, "
        "nn.GRUCell")
_ACT = ("activations implemented: relu, sigmoid, tanh, softmax, log_softmax, softplus, elu, "
        "selu, leaky_relu, softsign, gelu, logsigmoid, hardtanh, relu6")

#: Well-known PyTorch names tapeflow does not implement, per namespace -> a short note.
MISSING: dict[str, dict[str, str]] = {
    "torch": {
        **dict.fromkeys(["conv1d", "conv2d", "conv3d", "conv_transpose2d", "max_pool2d",
                         "avg_pool2d", "adaptive_avg_pool2d"], _CONV),
        **dict.fromkeys(["batch_norm", "layer_norm", "group_norm"], _NORM),
        **dict.fromkeys(["lstm", "gru"], _RNN),
        **dict.fromkeys(["tan", "atan2", "erf", "floor", "ceil", "round", "fmod", "remainder",
                         "sinh", "cosh", "rsqrt", "reciprocal"], ""),
        **dict.fromkeys(["prod", "cumprod", "logsumexp", "unique", "nonzero", "einsum",
                         "tensordot", "baddbmm",
                         "tile", "roll", "flip", "tril", "triu", "diag", "trace"], ""),
        **dict.fromkeys(["fft", "linalg", "sparse", "distributions", "special", "quantization"],
                        "namespace not implemented"),
        **dict.fromkeys(["jit", "compile", "vmap", "func", "onnx", "hub", "distributed",
                         "amp", "profiler"],
                        "compilers and tooling; tapeflow.static.function traces to a graph"),
        "set_default_dtype": "the default float dtype is always float32",
    },
    "torch.nn": {
        **dict.fromkeys(["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "MaxPool2d",
                         "AvgPool2d", "AdaptiveAvgPool2d", "Upsample", "PixelShuffle"], _CONV),
        **dict.fromkeys(["BatchNorm2d", "GroupNorm"], _NORM),
        **dict.fromkeys(["Transformer", "TransformerEncoder", "TransformerEncoderLayer",
                         "MultiheadAttention"], "attention layers are not implemented"),
        **dict.fromkeys(["SiLU", "PReLU"], _ACT),
        **dict.fromkeys(["DataParallel", "parallel"], "multi-device training is not implemented"),
        "Bilinear": "", "EmbeddingBag": "use Embedding and a reduction",
    },
    "torch.nn.functional": {
        **dict.fromkeys(["conv1d", "conv2d", "conv3d", "max_pool2d", "avg_pool2d",
                         "adaptive_avg_pool2d", "interpolate", "pad"], _CONV),
        "normalize": _NORM,
        "silu": _ACT,
    },
    "torch.optim": {
        **dict.fromkeys(["Adadelta", "Adamax", "ASGD", "Rprop"],
                        "optimizers implemented: SGD, Adam, AdamW, RMSprop, Adagrad, LBFGS"),
    },
}

_MODULES = {"torch": "tapeflow.dynamic", "torch.nn": "tapeflow.dynamic.nn",
            "torch.nn.functional": "tapeflow.dynamic.nn.functional",
            "torch.optim": "tapeflow.dynamic.optim"}


def miss(spelled: str, name: str) -> AttributeError | ImportError:
    """The error for ``<spelled>.<name>`` (``torch.conv2d``): see :mod:`tapeflow.runtime.missing`.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> try:
        ...     torch.nn.Conv2d
        ... except NotImplementedError as e:
        ...     print(str(e).split("; closest")[0])
        tapeflow.dynamic.nn does not implement torch.nn.Conv2d (convolutions and pooling are not part of tapeflow; it has Linear, Embedding and RNN)
    """  # noqa: E501
    return missing(_MODULES[spelled], spelled, name, MISSING[spelled])
