"""``torch.utils.data``: datasets and the ``DataLoader`` that batches them.

Enough of PyTorch's API for the usual training loop: ``TensorDataset`` over tensors that
share their first dimension, ``Subset`` and ``random_split``, and a ``DataLoader`` that
shuffles with the seeded default generator (``torch.manual_seed``) and stacks samples into
batches (``default_collate``: tensors stacked, numbers made tensors, tuples, lists and
dicts collated field by field). Loading happens in the calling process: there are no
worker processes and no pinned memory.

Example:
    >>> import tapeflow.dynamic as torch
    >>> from tapeflow.dynamic.utils.data import DataLoader, TensorDataset
    >>> data = TensorDataset(torch.arange(10.0).reshape(5, 2), torch.arange(5))
    >>> [tuple(y.tolist()) for _, y in DataLoader(data, batch_size=2)]
    [(0, 1), (2, 3), (4,)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ...runtime.backend import Generator
from ..creation import default_generator, tensor
from ..functions import stack
from ..tensor import Tensor

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "random_split"]


class Dataset:
    """A map-style dataset: ``dataset[i]`` is one sample, ``len(dataset)`` their count."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("a Dataset subclass defines __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError("a Dataset subclass defines __len__")


class TensorDataset(Dataset):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``; the tensors share dimension 0."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = {int(t.shape[0]) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions "
                             f"{[int(t.shape[0]) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset]:
    """Disjoint random subsets of the given lengths (or fractions that sum to 1)."""
    total = len(dataset)
    if all(isinstance(n, float) and 0 <= n <= 1 for n in lengths) and \
            math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(total * f)) for f in lengths]
        for i in range(total - sum(counts)):  # the remainder, round-robin (as PyTorch)
            counts[i % len(counts)] += 1
    else:
        counts = [int(n) for n in lengths]
    if sum(counts) != total:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = (generator or default_generator).permutation(total).tolist()
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start:start + count]))
        start += count
    return subsets


def default_collate(batch: list[Any]) -> Any:
    """Samples -> one batch: tensors stacked on a new first axis, numbers made a tensor,
    tuples/lists/dicts collated field by field."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, (bool, int, float)):
        return tensor(batch)
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return type(first)(default_collate(list(fields)) for fields in zip(*batch,
                                                                           strict=True))
    if hasattr(first, "shape") and hasattr(first, "dtype"):  # numpy arrays
        return stack([tensor(sample) for sample in batch])
    raise TypeError(f"default_collate: batch must contain tensors, numbers, dicts or lists; "
                    f"found {type(first).__name__}")


class DataLoader:
    """Batches of ``dataset``: ``batch_size`` samples each (the last one smaller unless
    ``drop_last``), in order or shuffled anew each epoch by the seeded generator."""

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable[[list[Any]], Any] | None = None,
                 generator: Generator | None = None, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        if batch_size is not None and batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if shuffle and len(dataset) == 0:  # PyTorch's RandomSampler refuses it at once
            raise ValueError("num_samples should be a positive integer value, but got "
                             "num_samples=0")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator
        self.collate_fn = collate_fn or default_collate

    def _order(self) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            return (self.generator or default_generator).permutation(n).tolist()
        return list(range(n))

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:  # no batching: samples one by one
            for i in order:
                yield self.dataset[i]
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
