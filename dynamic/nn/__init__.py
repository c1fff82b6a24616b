"""``torch.nn``: modules, parameters, layers, losses, and ``nn.functional``."""

from __future__ import annotations

from . import functional, init, utils
from .activation import (
    ELU,
    GELU,
    SELU,
    CosineSimilarity,
    Hardtanh,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    LeakyReLU,
    LogSigmoid,
    NLLLoss,
    ReLU6,
    SmoothL1Loss,
    Softplus,
    Softsign,
)
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .module import Module, Parameter
from .modules import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Linear,
    LogSoftmax,
    ModuleList,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .norm import BatchNorm1d, LayerNorm
from .rnn import RNN, RNNCell

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Embedding",
           "Flatten", "Identity", "LSTM", "LSTMCell", "Linear", "LogSoftmax", "MSELoss",
           "Module", "ModuleList", "NLLLoss", "Parameter", "RNN", "RNNCell", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init", "utils",
           "CosineSimilarity", "ELU", "GELU", "Hardtanh", "HuberLoss", "KLDivLoss", "L1Loss",
           "LeakyReLU", "LogSigmoid", "ReLU6", "SELU", "SmoothL1Loss", "Softplus", "Softsign",
           "BatchNorm1d", "GRU", "GRUCell", "LayerNorm"]


def __getattr__(name: str) -> object:
    """``torch.nn.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from ..unsupported import miss

    raise miss("torch.nn", name)
