"""The stacks a loop keeps for its reverse loop, written in place as the iterations run.

A loop that a gradient reads keeps, per iteration, the values its loop variables start
from and the values of its ``keep`` nodes (``residuals.py``). The runner used to append
each iteration's array to a list and join the list with ``np.array`` at the end: at the
join the list's arrays and the joined copy were alive together, twice the stack (the
LSTM's seven stacks of 40 steps: 1.2 MB at the peak of a 0.6 MB residue). Now, once the
first iteration has shown a row's shape and dtype, :func:`in_place` makes one array per
stack with a row per iteration, and every iteration copies its value into row ``count``
(``loop_codegen.py`` writes the line): no list, no join, the same bytes.

The rows are counted before the loop runs on: a counted loop (``loop_counter.py``) runs
exactly as many iterations as its test lets, which :func:`expected` works out from the
counter; any other loop starts with :data:`FIRST_ROWS` and doubles (:meth:`Stacks.grow`).
The counter's own stack needs no rows at all: it is ``start, start + step, ...``
(:func:`counted`), as ``np.arange`` makes it in one call.

Example:
    >>> import numpy as np
    >>> stacks = in_place(np, [(7, [np.zeros(2)])], [[np.ones(3)]], {7: np.zeros(2)}, None, 4)
    >>> stacks.kept[0][1] = np.full(3, 2.0)
    >>> stacks.finished(stacks.kept[0], 2)
    array([[1., 1., 1.],
           [2., 2., 2.]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .loop_counter import Counter

__all__ = ["FIRST_ROWS", "Stacks", "counted", "expected", "in_place"]

#: the rows made for a loop whose iterations cannot be counted ahead (doubled as needed)
FIRST_ROWS = 16


def expected(counter: Counter | None, t: int, end: int, count: int, limit: int | None) -> int:
    """The rows to make after ``count`` iterations: for a counted loop whose next value is
    ``t`` (its test holds), ``count`` plus the iterations its test lets run; else
    :data:`FIRST_ROWS` or twice ``count``; never more than ``limit``, never under
    ``count + 1``."""
    more = None if counter is None else _remaining(counter, t, end)
    size = max(FIRST_ROWS, 2 * count) if more is None else count + more
    if limit is not None:
        size = min(size, limit)
    return max(size, count + 1)


def _remaining(counter: Counter, t: int, end: int) -> int | None:
    """How many more times ``t <test> end`` holds as ``t`` steps by ``counter.step`` (None:
    it may hold for ever, the step going away from the bound)."""
    step, test = counter.step, counter.test
    if step > 0 and test in ("lt", "le"):
        span, by = end - t, step
    elif step < 0 and test in ("gt", "ge"):
        span, by = t - end, -step
    else:
        return None
    found = span // by + 1 if test in ("le", "ge") else -(-span // by)
    return max(found, 0)


def counted(xp: Any, start: int, step: int, count: int, dtype: Any) -> Any:
    """The stack of a counter's values over ``count`` iterations (each iteration's start)."""
    return xp.arange(start, start + step * count, step, dtype=dtype)


class Stacks:
    """One loop run's stacks, each an array of ``size`` rows of which the first ``count``
    are written.

    Attributes:
        saved: (parameter, array) per stacked loop variable (the counter's aside).
        kept: an array per value the loop keeps (its ``keep`` nodes).
        size: the rows each array has.
    """

    def __init__(self, saved: list[tuple[int, Any]], kept: list[Any], size: int) -> None:
        self.saved, self.kept, self.size = saved, kept, size

    def grow(self, xp: Any, count: int, limit: int | None = None) -> None:
        """Twice the rows, never more than ``limit`` (the loop's maximum_iterations), the
        first ``count`` copied (a loop that outran :func:`expected`)."""
        size = 2 * self.size if limit is None else max(min(2 * self.size, limit), count + 1)

        def grown(array: Any) -> Any:
            bigger = xp.empty((size, *array.shape[1:]), array.dtype)
            bigger[:count] = array[:count]
            return bigger

        self.saved = [(param, grown(array)) for param, array in self.saved]
        self.kept = [grown(array) for array in self.kept]
        self.size = size

    @staticmethod
    def finished(array: Any, count: int) -> Any:
        """The stack of ``count`` rows: the array itself when it has just those (a counted
        loop), else a copy of them, so the rows made but never run are freed now rather
        than held by a view until the reverse loop (a loop that stops on a value can stop
        after 3 of its 16 rows)."""
        return array if count == len(array) else array[:count].copy()


def in_place(xp: Any, saved: Sequence[tuple[int, list[Any]]], kept: Sequence[list[Any]],
             feeds: Mapping[int, Any], skip: int | None, size: int) -> Stacks | None:
    """Arrays of ``size`` rows holding the rows stacked so far (the lists ``saved``, per
    loop variable's parameter, and ``kept``), but the stack of parameter ``skip`` (the
    counter's: :func:`counted`); None when a loop variable's next value (in ``feeds``)
    has another shape or dtype than its first (the lists then stay: ``np.array`` joins
    what it is given)."""
    def made(rows: list[Any]) -> Any:
        first = xp.asarray(rows[0])
        array = xp.empty((size, *first.shape), first.dtype)
        for j, row in enumerate(rows):
            array[j] = row
        return array

    arrays = []
    for param, rows in saved:
        if param == skip:
            continue
        first, now = xp.asarray(rows[0]), xp.asarray(feeds[param])
        if first.shape != now.shape or first.dtype != now.dtype:
            return None
        arrays.append((param, made(rows)))
    return Stacks(arrays, [made(rows) for rows in kept], size)
