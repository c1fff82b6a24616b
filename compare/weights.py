"""Initial weights from one seed, shared by both styles.

Weights are drawn once, as numpy arrays in the (in, out) layout of TF1's ``x @ W``; the
PyTorch-style models take the transposes (``nn.Linear.weight`` is (out, in)). Both
styles therefore start from exactly the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import Generator
from ..runtime import dtypes as dt


def _uniform(gen: Generator, shape: tuple[int, ...], fan_in: int, dtype: dt.DType) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)  # PyTorch's default bound for Linear and RNN layers
    return gen.uniform(shape, -bound, bound, dtype)


def xor_weights(seed: int, dtype: str = "float64", hidden: int = 5) -> dict[str, np.ndarray]:
    d = dt.as_dtype(dtype)
    gen = Generator(seed)
    # a wider range than the default bound: XOR trains in a few hundred steps from here
    return {
        "w1": gen.uniform((2, hidden), -1.0, 1.0, d),
        "b1": gen.uniform((hidden,), -1.0, 1.0, d),
        "w2": gen.uniform((hidden, 2), -1.0, 1.0, d),
        "b2": gen.uniform((2,), -1.0, 1.0, d),
    }


def rnn_weights(
    seed: int,
    dtype: str,
    vocab: int,
    embed: int,
    hidden: int,
    classes: int = 2,
    cell: str = "rnn",
) -> dict[str, np.ndarray]:
    """The sentiment model's weights; an LSTM's hold its four gates (input, forget, cell,
    output) side by side, as PyTorch stacks them.

    Example:
        >>> rnn_weights(0, "float64", 40, 16, 32, cell="lstm")["w_hh"].shape
        (32, 128)
    """
    d = dt.as_dtype(dtype)
    gen = Generator(seed)
    gates = {"rnn": 1, "lstm": 4}[cell] * hidden
    return {
        "embedding": gen.normal((vocab, embed), 0.0, 1.0, d),
        "w_ih": _uniform(gen, (embed, gates), hidden, d),
        "w_hh": _uniform(gen, (hidden, gates), hidden, d),
        "b_ih": _uniform(gen, (gates,), hidden, d),
        "b_hh": _uniform(gen, (gates,), hidden, d),
        "w_out": _uniform(gen, (hidden, classes), hidden, d),
        "b_out": _uniform(gen, (classes,), hidden, d),
    }


# Each shared weight's parameter in the PyTorch-style models, and whether that parameter
# holds it transposed (``nn.Linear.weight`` and the RNN matrices are (out, in)).
XOR_PARAMETERS = {
    "w1": ("fc1.weight", True),
    "b1": ("fc1.bias", False),
    "w2": ("fc2.weight", True),
    "b2": ("fc2.bias", False),
}
RNN_PARAMETERS = {
    "embedding": ("embedding.weight", False),
    "w_ih": ("rnn.weight_ih_l0", True),
    "w_hh": ("rnn.weight_hh_l0", True),
    "b_ih": ("rnn.bias_ih_l0", False),
    "b_hh": ("rnn.bias_hh_l0", False),
    "w_out": ("fc.weight", True),
    "b_out": ("fc.bias", False),
}


def load_parameters(module: Any, names: dict[str, tuple[str, bool]], weights: dict) -> None:
    """Copies shared weights (``{name: array}``, (in, out) layout) into ``module``'s parameters.

    Example:
        >>> # load_parameters(XorNet(), XOR_PARAMETERS, xor_weights(0))
    """
    from .. import dynamic as torch

    parameters = dict(module.named_parameters())
    with torch.no_grad():
        for name, (parameter, transposed) in names.items():
            value = weights[name].T if transposed else weights[name]
            parameters[parameter].copy_(torch.from_numpy(np.ascontiguousarray(value)))


def read_parameters(
    module: Any, names: dict[str, tuple[str, bool]], gradients: bool = False
) -> dict[str, np.ndarray]:
    """``module``'s parameters (or their ``.grad``) as shared weights: host arrays, (in, out).

    Example:
        >>> # read_parameters(model, XOR_PARAMETERS)["w1"].shape == (2, 5)
    """
    parameters = dict(module.named_parameters())
    out = {}
    for name, (parameter, transposed) in names.items():
        tensor = parameters[parameter].grad if gradients else parameters[parameter].detach()
        value = tensor.cpu().numpy()
        out[name] = np.ascontiguousarray(value.T if transposed else value)  # a row-major copy
    return out
