"""PyTorch's samplers over the seeded generator (``torch.manual_seed``): ``torch.normal``
(all four overloads), ``randint_like``, ``bernoulli``, ``multinomial``, and the in-place
``Tensor.normal_``, ``uniform_``, ``bernoulli_``, ``random_``, ``exponential_``. The
draws are ``runtime/sampling.py``'s; a sample has no gradient, as in PyTorch.

Example:
    >>> import tapeflow.dynamic as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.normal(2.0, 0.0, size=(2,)).tolist()
    [2.0, 2.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from ..runtime import sampling
from ..runtime.backend import Generator, to_device
from .creation import default_generator, tensor
from .tensor import Tensor

__all__ = ["bernoulli", "multinomial", "normal", "randint_like"]


def _gen(generator: Generator | None) -> Generator:
    return generator or default_generator


def _host(x: Any) -> Any:
    return to_device(x._array, "cpu") if isinstance(x, Tensor) else x


def _made(array: np.ndarray, device: Any = None, requires_grad: bool = False) -> Tensor:
    out = tensor(array, device=device)
    return out.requires_grad_(True) if requires_grad else out


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           out: Any = None, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Gaussian draws: ``normal(mean_tensor, std_tensor)``, ``normal(mean_tensor, 1.0)``,
    ``normal(0.0, std_tensor)`` (the tensors broadcast; float results of their dtype), or
    ``normal(mean, std, size)`` with Python numbers."""
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if tensors:
        if size is not None:
            raise TypeError("normal() received an invalid combination of arguments: size is "
                            "only accepted with a float mean and std")
        shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
        dtype = dtype or tensors[0].dtype
        device = device or tensors[0].device
    else:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments - got "
                            "(float, float), but expected (float mean, float std, tuple of "
                            "ints size, *, ...)")
        shape = tuple(int(s) for s in (size if isinstance(size, (tuple, list)) else (size,)))
        dtype = dtype or dt.float32
    if np.any(np.asarray(_host(std)) < 0):
        raise RuntimeError(f"normal expects all elements of std >= 0.0, got {_host(std)!r}")
    array = sampling.normal(_gen(generator), _host(mean), _host(std), shape, dt.as_dtype(dtype))
    result = _made(array, device, requires_grad)
    return result if out is None else out.copy_(result)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *,  # noqa: A002
                 dtype: Any = None, device: Any = None, generator: Any = None) -> Tensor:
    """Random integers in [low, high) with the shape of ``input`` (``randint_like(x, 10)``
    means high 10)."""
    if high is None:
        low, high = 0, low
    dtype = dt.as_dtype(dtype or input.dtype)
    array = _gen(generator).integers(tuple(input.shape), int(low), int(high), dtype)
    return _made(np.asarray(array), device or input.device)


def bernoulli(input: Tensor, p: float | None = None, *,  # noqa: A002
              generator: Any = None, out: Any = None) -> Tensor:
    """1 with probability ``input`` (or ``p``), per element, in ``input``'s dtype."""
    probs = np.full(tuple(input.shape), p) if p is not None else np.asarray(_host(input))
    if np.any((probs < 0) | (probs > 1)) or np.isnan(probs).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    result = _made(sampling.bernoulli(_gen(generator), probs, input.dtype), input.device)
    return result if out is None else out.copy_(result)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Any = None, out: Any = None) -> Tensor:
    """``num_samples`` category indices per row of the non-negative weights ``input``."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    weights = np.asarray(_host(input), np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > weights.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    positive = (np.atleast_2d(weights) > 0).sum(axis=1)
    if (positive == 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and (positive < num_samples).any():
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not "
                           "enough non-negative category to sample)")
    array = sampling.multinomial(_gen(generator), weights, int(num_samples), replacement)
    result = _made(array, input.device)
    return result if out is None else out.copy_(result)
