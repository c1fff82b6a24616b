"""The in-place samplers of Tensor (a mixin): ``normal_``, ``uniform_``, ``bernoulli_``,
``random_``, ``exponential_``, and the ``bernoulli``/``multinomial`` methods, drawing from
the seeded generator through ``runtime/sampling.py`` (``dynamic/random.py`` has the
``torch.*`` forms).

Example:
    >>> import tapeflow.dynamic as torch
    >>> torch.zeros(3).uniform_(2.0, 2.0).tolist()
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from ..runtime import sampling
from ..runtime.backend import Generator, to_device


def _gen(generator: Generator | None) -> Generator:
    from .creation import default_generator

    return generator or default_generator


def _host(x: Any) -> Any:
    return to_device(x._array, "cpu") if hasattr(x, "_array") else x


class TensorRandom:
    """The in-place samplers (a mixin of Tensor): each writes a fresh sample into the
    tensor (a recorded copy, so no gradient reaches the old value, as in PyTorch)."""

    def _fill_sample(self, array: np.ndarray) -> Any:
        from .creation import tensor

        return self.copy_(tensor(array.astype(self.dtype.np), device=self.device))  # type: ignore[attr-defined]

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Any:
        shape = tuple(self.shape)  # type: ignore[attr-defined]
        return self._fill_sample(sampling.normal(_gen(generator), mean, std, shape,
                                                 dt.float64))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None,
                 **bounds: float) -> Any:
        a, b = bounds.get("from", a), bounds.get("to", b)  # PyTorch's from=, to= spelling
        shape = tuple(self.shape)  # type: ignore[attr-defined]
        return self._fill_sample(np.asarray(_gen(generator).uniform(shape, a, b, dt.float64)))

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Any:
        probs = np.broadcast_to(np.asarray(_host(p), np.float64), tuple(self.shape))  # type: ignore[attr-defined]
        return self._fill_sample(sampling.bernoulli(_gen(generator), probs, dt.float64))

    def bernoulli(self, p: float | None = None, *, generator: Any = None) -> Any:
        from .random import bernoulli

        return bernoulli(self, p, generator=generator)  # type: ignore[arg-type]

    def random_(self, low: int = 0, high: int | None = None, *, generator: Any = None) -> Any:
        if high is None:  # random_(to) draws from [0, to); random_() from the dtype's range
            low, high = (0, low) if low else (0, 2 ** 24 if self.dtype.is_floating else 2 ** 31)  # type: ignore[attr-defined]
        draws = _gen(generator).integers(tuple(self.shape), low, high, dt.int64)  # type: ignore[attr-defined]
        return self._fill_sample(np.asarray(draws))

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Any:
        u = np.asarray(_gen(generator).uniform(tuple(self.shape), 0.0, 1.0, dt.float64))  # type: ignore[attr-defined]
        return self._fill_sample(-np.log1p(-u) / lambd)

    def multinomial(self, num_samples: int, replacement: bool = False, *,
                    generator: Any = None) -> Any:
        from .random import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)  # type: ignore[arg-type]
