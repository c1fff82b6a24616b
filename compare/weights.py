"""Initial weights from one seed, shared by both styles.

Weights are drawn once, as numpy arrays in the (in, out) layout of TF1's ``x @ W``; the
PyTorch-style models take the transposes (``nn.Linear.weight`` is (out, in)). Both
styles therefore start from exactly the same numbers.
"""

from __future__ import annotations

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
    seed: int, dtype: str, vocab: int, embed: int, hidden: int, classes: int = 2
) -> dict[str, np.ndarray]:
    d = dt.as_dtype(dtype)
    gen = Generator(seed)
    return {
        "embedding": gen.normal((vocab, embed), 0.0, 1.0, d),
        "w_ih": _uniform(gen, (embed, hidden), hidden, d),
        "w_hh": _uniform(gen, (hidden, hidden), hidden, d),
        "b_ih": _uniform(gen, (hidden,), hidden, d),
        "b_hh": _uniform(gen, (hidden,), hidden, d),
        "w_out": _uniform(gen, (hidden, classes), hidden, d),
        "b_out": _uniform(gen, (classes,), hidden, d),
    }
