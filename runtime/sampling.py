"""Sampling from a seeded ``Generator``, shared by the front ends: Gaussian draws with
per-element mean and std, Bernoulli draws, and categorical (multinomial) draws with or
without replacement. Host arrays in, host arrays out; nothing here has a gradient (PyTorch
gives none through these samplers either).

Example:
    >>> import numpy as np
    >>> from tapeflow.runtime import Generator, dtypes as dt
    >>> draws = multinomial(Generator(seed=0), np.array([[0.0, 1.0, 0.0]]), 4, True)
    >>> draws.tolist()
    [[1, 1, 1, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes as dt
from .backend import Generator


def normal(gen: Generator, mean: Any, std: Any, shape: tuple[int, ...],
           dtype: dt.DType) -> np.ndarray:
    """``mean + std z`` with z standard normal of ``shape`` (mean and std broadcast)."""
    z = np.asarray(gen.normal(shape, 0.0, 1.0, dt.float64))
    return (np.asarray(mean, np.float64) + np.asarray(std, np.float64) * z).astype(dtype.np)


def bernoulli(gen: Generator, p: Any, dtype: dt.DType) -> np.ndarray:
    """1 with probability ``p`` (per element), else 0."""
    p = np.asarray(p, np.float64)
    u = np.asarray(gen.uniform(p.shape, 0.0, 1.0, dt.float64))
    return (u < p).astype(dtype.np)


def multinomial(gen: Generator, weights: np.ndarray, num_samples: int,
                replacement: bool) -> np.ndarray:
    """Category indices drawn from each row of non-negative ``weights`` (int64).

    With replacement: the inverse of each row's cumulative distribution at uniform draws.
    Without: the ``num_samples`` smallest ``-log(u) / w`` (exponential races, which pick
    categories in proportion to their weights, one at a time, as sequential draws would).
    """
    rows = np.atleast_2d(np.asarray(weights, np.float64))
    if replacement:
        cdf = np.cumsum(rows, axis=1)
        u = np.asarray(gen.uniform((rows.shape[0], num_samples), 0.0, 1.0, dt.float64))
        picks = np.stack([np.searchsorted(c / c[-1], r, side="right")
                          for c, r in zip(cdf, u, strict=True)])
        picks = np.minimum(picks, rows.shape[1] - 1)
    else:
        u = np.asarray(gen.uniform(rows.shape, 0.0, 1.0, dt.float64))
        with np.errstate(divide="ignore"):
            race = -np.log(1.0 - u) / rows  # a zero weight never finishes (inf)
        picks = np.argsort(race, axis=1, kind="stable")[:, :num_samples]
    picks = picks.astype(np.int64)
    return picks if np.ndim(weights) == 2 else picks[0]
