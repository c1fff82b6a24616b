"""Built-in, seeded data for the workloads (no downloads): XOR and a synthetic sentiment task.

The sentiment task: a vocabulary where some words are positive, some negative and the rest
neutral; a sentence's label says which kind dominates (1 = positive). Sentences are 3 to
40 words long. Token 0 is padding and never appears inside a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

XOR_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_CLASSES = np.array([0, 1, 1, 0])
XOR_TARGETS = np.eye(2)[XOR_CLASSES]  # one-hot, for the mean-squared-error loss


@dataclass(frozen=True)
class SentimentTask:
    vocab_size: int = 40
    num_positive: int = 8
    num_negative: int = 8
    min_len: int = 3
    max_len: int = 40

    @property
    def positive_ids(self) -> range:
        return range(1, 1 + self.num_positive)

    @property
    def negative_ids(self) -> range:
        return range(1 + self.num_positive, 1 + self.num_positive + self.num_negative)

    def sentence(
        self, length: int, rng: np.random.Generator, exclude: frozenset[bytes] = frozenset()
    ) -> tuple[np.ndarray, int]:
        """One sentence of ``length`` words with a dominant kind, and its label; never one
        whose words (as bytes) are in ``exclude``."""
        while True:
            words = rng.integers(1, self.vocab_size, size=length).astype(np.int64)
            pos = int(np.isin(words, self.positive_ids).sum())
            neg = int(np.isin(words, self.negative_ids).sum())
            if pos != neg and words.tobytes() not in exclude:  # else no kind dominates
                return words, int(pos > neg)

    def batches(
        self,
        batch_size: int,
        batches_per_length: int,
        seed: int,
        exclude: list[Batch] | None = None,
    ) -> list[Batch]:
        """Full batches whose sentences share one length, every length from min_len to
        max_len equally often, in a seeded order (so dynamic mode can run each batch at its
        real length and static mode pads). No sentence of ``exclude`` is drawn again: a
        held-out split.

        Example:
            >>> task = SentimentTask()
            >>> train = task.batches(8, 1, seed=0)
            >>> test = task.batches(8, 1, seed=1, exclude=train)
            >>> len(train) == len(test) == task.max_len - task.min_len + 1
            True
        """
        seen = frozenset(row.tobytes() for b in exclude or [] for row in b.tokens)
        rng = np.random.default_rng(seed)
        batches = []
        for length in range(self.min_len, self.max_len + 1):
            for _ in range(batches_per_length):
                drawn = [self.sentence(length, rng, seen) for _ in range(batch_size)]
                tokens = np.stack([words for words, _ in drawn])
                labels = np.array([label for _, label in drawn], dtype=np.int64)
                batches.append(Batch(tokens, np.full(batch_size, length, dtype=np.int64), labels))
        return [batches[i] for i in rng.permutation(len(batches))]


@dataclass(frozen=True)
class Batch:
    """One batch of sentences, padded to ``tokens.shape[1]`` with token 0.

    ``lengths`` are the true lengths; ``mask[b, t]`` is 1.0 for real words.
    """

    tokens: np.ndarray  # (B, T) int64
    lengths: np.ndarray  # (B,) int64
    labels: np.ndarray  # (B,) int64

    @property
    def max_length(self) -> int:
        return int(self.lengths.max())

    def padded_to(self, length: int) -> Batch:
        if length < self.tokens.shape[1]:
            raise ValueError(f"cannot pad a batch of length {self.tokens.shape[1]} to {length}")
        tokens = np.zeros((len(self.lengths), length), dtype=np.int64)
        tokens[:, : self.tokens.shape[1]] = self.tokens
        return Batch(tokens, self.lengths, self.labels)

    def mask(self, dtype: np.dtype) -> np.ndarray:
        steps = np.arange(self.tokens.shape[1])
        return (steps[None, :] < self.lengths[:, None]).astype(dtype)


def bucket_length(length: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket that holds ``length``."""
    for b in buckets:
        if length <= b:
            return b
    raise ValueError(f"length {length} exceeds the largest bucket {buckets[-1]}")


def padding_waste(batches: list[Batch], padded_length_of) -> float:
    """The share of computed time steps that are padding, when each batch runs at
    ``padded_length_of(batch)`` steps."""
    real = sum(int(b.lengths.sum()) for b in batches)
    computed = sum(len(b.lengths) * padded_length_of(b) for b in batches)
    return 1.0 - real / computed if computed else 0.0
