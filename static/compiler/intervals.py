"""Which placed buffers' lifetimes meet a new one, without scanning every placed buffer.

The planner's first-fit placement (``planner.greedy_by_size``) needs, for each buffer it
places, the buffers already placed whose lifetimes meet its own. Scanning all of them made
planning quadratic in the graph (an unrolled RNN of 1,600 steps spent most of its compile
there). A lifetime ``[f, l]`` meets a placed ``[a, b]`` exactly when either ``a <= f <= b``
(the placed one is alive at step ``f``) or ``f < a <= l`` (it starts inside); the two cases
are disjoint. The first is a stabbing query on a segment tree over steps, the second a
range of a list sorted by first step, so a query costs ``O(log n + k)`` for ``k`` answers.

Example:
    >>> index = LifetimeIndex([(0, 3), (2, 5), (6, 7)])
    >>> index.add(0, (0, 3)); index.add(2, (6, 7))
    >>> sorted(index.meeting((2, 5)))
    [0]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from heapq import heappop, heappush

import numpy as np

from ...runtime import ALIGNMENT, align


class LifetimeIndex:
    """Placed lifetimes (inclusive step ranges) keyed by buffer id, queried by overlap.

    Args:
        lifetimes: every lifetime that may be added, to size the tree over their steps;
            each must have ``first <= last``.
    """

    def __init__(self, lifetimes: Iterable[tuple[int, int]]) -> None:
        spans = list(lifetimes)
        self._low = min((f for f, _ in spans), default=0)
        high = max((last for _, last in spans), default=0)
        self._size = 1
        while self._size < high - self._low + 1:
            self._size *= 2
        # segment -> keys stored there; only segments in use get a list (fewer objects)
        self._tree: dict[int, list[int]] = {}
        self._firsts: list[int] = []  # first steps of the recorded lifetimes, sorted
        self._keys: list[int] = []  # their keys, in the same order

    def add(self, buffer: int, lifetime: tuple[int, int]) -> None:
        """Records a placed buffer's lifetime."""
        first, last = lifetime
        # the canonical segments covering [first, last] (a bottom-up segment tree)
        lo, hi = first - self._low + self._size, last - self._low + self._size + 1
        while lo < hi:
            if lo & 1:
                self._tree.setdefault(lo, []).append(buffer)
                lo += 1
            if hi & 1:
                hi -= 1
                self._tree.setdefault(hi, []).append(buffer)
            lo, hi = lo >> 1, hi >> 1
        at = bisect_right(self._firsts, first)
        self._firsts.insert(at, first)
        self._keys.insert(at, buffer)

    def meeting(self, lifetime: tuple[int, int]) -> list[int]:
        """The recorded keys whose lifetimes share a step with ``lifetime``, each once."""
        first, last = lifetime
        found: list[int] = []
        node = first - self._low + self._size
        while node:  # alive at `first`: the segments on the leaf-to-root path
            found += self._tree.get(node, ())
            node >>= 1
        # starting inside (first, last]
        found += self._keys[bisect_right(self._firsts, first):bisect_right(self._firsts, last)]
        return found


def first_fit(order: list[int], sizes: dict[int, int], lifetimes: dict[int, tuple[int, int]],
              ) -> dict[int, int]:
    """Offsets for buffers placed in ``order``, each at the lowest offset clear of the
    placed buffers whose lifetimes meet its own (every lifetime must have first <= last).

    The rule is ``planner.greedy_by_size``'s, offset for offset: the conflicts sorted by
    (start, end), the candidate offset raised to each aligned end until a gap before the
    next start is big enough. Many conflicts are scanned with numpy instead of a loop.

    Example:
        >>> first_fit([1, 2, 3], {1: 64, 2: 64, 3: 64}, {1: (0, 1), 2: (1, 2), 3: (2, 3)})
        {1: 0, 2: 64, 3: 0}
    """
    index = LifetimeIndex(lifetimes.values())
    starts = np.zeros(len(order), np.int64)  # by placement position
    ends = np.zeros(len(order), np.int64)
    offsets: dict[int, int] = {}
    for at, b in enumerate(order):
        size, meeting = sizes[b], index.meeting(lifetimes[b])
        if len(meeting) < _VECTOR_FROM:
            offset = 0
            for start, end in sorted((int(starts[p]), int(ends[p])) for p in meeting):
                if start - offset >= size:
                    break  # the gap before this conflict is big enough
                offset = max(offset, align(end))
        else:
            offset = _vector_fit(starts, ends, np.array(meeting, np.int64), size)
        offsets[b] = offset
        starts[at], ends[at] = offset, offset + size
        index.add(at, lifetimes[b])
    return offsets


_VECTOR_FROM = 48  # conflicts from which numpy's per-call cost pays off


def _vector_fit(starts: np.ndarray, ends: np.ndarray, meeting: np.ndarray, size: int) -> int:
    """The scalar loop of :func:`first_fit` over many conflicts, vectorised."""
    s, e = starts[meeting], ends[meeting]
    order = np.lexsort((e, s))  # sorted by (start, end), as the tuples sort
    s, e = s[order], (e[order] + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
    reach = np.maximum.accumulate(e)
    before = np.concatenate(([0], np.maximum(reach[:-1], 0)))  # offset when meeting each
    fits = np.flatnonzero(s - before >= size)
    return int(before[fits[0]]) if len(fits) else max(int(reach[-1]), 0)


def clash_free(offsets: dict[int, int], sizes: dict[int, int],
               lifetimes: dict[int, tuple[int, int]]) -> bool:
    """Whether no two buffers alive at one step share arena bytes, in ``O(n log n)``.

    A sweep over steps keeps the live buffers sorted by offset; a buffer coming alive can
    only overlap its neighbours there. False also when a size or lifetime is unusual (empty
    or reversed): the caller then checks pair by pair, as it does to name a clash.

    Example:
        >>> clash_free({1: 0, 2: 64}, {1: 64, 2: 64}, {1: (0, 5), 2: (3, 4)})
        True
        >>> clash_free({1: 0, 2: 0}, {1: 64, 2: 64}, {1: (0, 5), 2: (5, 6)})
        False
    """
    if any(size <= 0 for size in sizes.values()) or any(
            first > last for first, last in lifetimes.values()):
        return False
    live: list[tuple[int, int]] = []  # (offset, buffer) of the live buffers, sorted
    ending: list[tuple[int, int, int]] = []  # heap of (last step, offset, buffer)
    for b in sorted(sizes, key=lambda b: lifetimes[b][0]):
        first, last = lifetimes[b]
        while ending and ending[0][0] < first:  # dead before b's first step
            _, offset, dead = heappop(ending)
            del live[bisect_left(live, (offset, dead))]
        start, end = offsets[b], offsets[b] + sizes[b]
        at = bisect_left(live, (start, b))
        if at > 0 and live[at - 1][0] + sizes[live[at - 1][1]] > start:
            return False
        if at < len(live) and live[at][0] < end:
            return False
        live.insert(at, (start, b))
        heappush(ending, (last, start, b))
    return True
