"""Running a compiled ``while`` loop: the loop itself, in one tight Python ``while``.

The ``while`` kernel (``graphs/control.py``) hands a compiled loop to a :class:`LoopRunner`,
which runs the test once and then one program per iteration (the body fused with the next
test) with as little Python around it as it can:

* the feed dict is built once; each iteration replaces only the loop variables in it;
* the step's program is looked up once (by input shapes) and looked up again only when a
  loop variable's shape changes (a relaxed shape invariant);
* a row the body reads of an input that is the same every iteration, at a loop variable's
  index (``tf.gather(inputs, t)`` in ``dynamic_rnn``; a reverse loop's reads of its saved
  stacks), is handed to the step as a parameter: the runner indexes it, a view, where the
  step ran a ``take`` kernel (1 to 1.6 us each, a copy and a bounds check); as JAX's
  ``scan`` slices its ``xs`` for the body;
* a loop variable that the body only adds a one-row scatter to (``acc + scatter_add(g, i,
  like)``: the gradient of a captured tensor read one row per iteration, as ``dynamic_rnn``
  reads its inputs) is summed in place: the body hands over the row ``g`` and the index
  ``i``, and the runner adds ``g`` into its own copy of the accumulator. Before, every
  iteration zeroed a buffer the size of the whole tensor, scattered one row into it and
  added it to the accumulator: work that grew with the length, every iteration;
* a step whose masks are all true (every sentence alive) runs a program without the masking
  (``loop_variants.py``), a counter is counted in Python (``loop_counter.py``), and the
  iterations after the first run in straight-line code written for the loop
  (``loop_codegen.py``);
* the values a gradient reads are written into one preallocated array per stack, a row an
  iteration (``loop_stacks.py``), not gathered in lists and joined at the end.

Results are the same values as the plain kernel's: the row adds the same numbers in the same
order (a zero buffer plus ``g`` is ``g``). A failure of the runner's own slicing or summing
is reported as the body node it stands for would be (``loop_errors.py``).

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [3], name="x")
    ...     _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0),
    ...                          [tf.constant(0), x])
    >>> program = compile(g.as_ir([y]), {x.node_id: Spec((3,), tf.float64)})
    >>> next(n.attrs["loop"] for n in program.graph.nodes if n.op == "while")
    <LoopRunner: 2 variables, 0 summed in place, 0 rows sliced>
    >>> program.run({x.node_id: np.array([1.0, 2.0, 3.0])}, {})[0][0]
    array([ 8., 16., 24.])
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ...graphs.control import Body, residuals, stacked
from ...runtime import Spec
from .loop_codegen import Shape, loop_for
from .loop_counter import TESTS, Counter
from .loop_errors import located
from .loop_stacks import counted, expected, in_place
from .loop_steps import Slice, find_slices, find_sums, with_slices, without_sums

__all__ = ["LoopRunner", "Slice", "find_slices", "find_sums", "with_slices", "without_sums"]

_NO_VARIABLES: Mapping[int, Any] = {}


class LoopRunner:
    """One while node's loop on its compiled bodies: ``runner(xp, args, limit, save)``
    returns what the ``while`` kernel returns (see ``graphs/control.py``).

    Attributes:
        cond: the test's BodyProgram; step: the fused step's (without the summed variables).
        n_vars: the number of loop variables; sums: summed variable -> its scatter axis.
        slices: the rows of inputs the runner hands the step (:class:`Slice`).
        body, keep: the loop's body and the nodes of it whose values the loop stacks
            for its reverse loop (the step's last outputs; see ``residuals.py``).
    """

    def __init__(self, cond: Any, step: Any, n_vars: int, sums: Mapping[int, int],
                 slices: Sequence[Slice] = (), body: Body | None = None,
                 keep: Sequence[int] = (), alive: Any = None,
                 counter: Counter | None = None) -> None:
        self.cond, self.step, self.n_vars, self.sums = cond, step, n_vars, dict(sums)
        self.slices, self.body, self.keep = tuple(slices), body, tuple(keep)
        self.alive = alive  # (the step's program for all-true masks: loop_variants.py)
        self.counter = counter  # (a loop variable the runner counts: loop_counter.py)
        self._alive_runs: dict[int, Any] = {}  # (id of a step program -> _alive_run's)
        self._loops: dict[tuple[int, bool, bool, bool], Any] = {}  # (generated: loop_codegen.py)
        self._same = _same([s.index for s in self.slices])
        self.kept = [k for k in range(n_vars) if k not in self.sums]

    def __repr__(self) -> str:
        return (f"<LoopRunner: {self.n_vars} variables, {len(self.sums)} summed in place, "
                f"{len(self.slices)} rows sliced>")

    def step_specs(self, specs: Sequence[Spec]) -> list[Spec]:
        """The specs of the step's parameters when the loop's inputs have ``specs``."""
        found = list(specs)
        position = {p: k for k, p in enumerate(self.step.body.params)}
        for s in self.slices:
            source = found[position[s.source]]
            shape = None if source.shape is None else source.shape[1:]
            found.append(Spec(shape, source.dtype))
        return found

    def __call__(self, xp: Any, args: Sequence[Any], maximum_iterations: int | None,
                 save: tuple[int, ...] | None) -> tuple[Any, ...]:
        n_vars, params = self.n_vars, self.step.body.params
        sums = {k: _rows_first(xp, xp.array(args[k], copy=True), axis, 0)
                for k, axis in self.sums.items()}  # (the runner's own arrays, rows first)
        feeds = dict(zip(params[:len(args)], args, strict=True))  # (then the slices)
        keys = [params[k] for k in self.kept]
        saved: dict[int, list[Any]] = {params[k]: [] for k in save or ()}
        kept: list[list[Any]] = [[] for _ in self.keep]
        test = self.cond(list(args))[0]
        try:
            count = self._iterate(feeds, keys, saved, sums, kept, test, maximum_iterations, xp)
        except (IndexError, ValueError) as exc:  # (a row the runner slices or sums)
            named = located(exc, self, feeds, sums)
            if named is exc:
                raise
            raise named from exc
        results = []
        for k in range(n_vars):
            if k in sums:
                results.append(_rows_first(xp, sums[k], 0, self.sums[k]))
            else:  # a loop that ran zero times hands back its inputs: copies, the caller's
                results.append(feeds[params[k]] if count else xp.array(args[k], copy=True))
        if save is None:
            return tuple(results)
        stacks = tuple(_stacked(xp, saved[params[k]], args[k]) if params[k] in saved
                       else None for k in range(n_vars))
        if not self.keep:
            return (*results, *stacks, xp.asarray(count, dtype=xp.int32))
        assert self.body is not None
        found = (tuple(_stacked(xp, values, None) for values in kept) if count
                 else residuals(xp, self.body, args, self.keep, kept))
        return (*results, *stacks, xp.asarray(count, dtype=xp.int32), *found)

    def _iterate(self, feeds: dict[int, Any], keys: list[int], saved: dict[int, list[Any]],
                 sums: dict[int, Any], kept: list[list[Any]], test: Any,
                 limit: int | None, xp: Any) -> int:
        """Runs the iterations; ``feeds`` ends holding the last values. Returns the count.
        The first iteration runs here; the rest in a generated loop (loop_codegen.py), but
        for a loop whose variables may change shape, which runs here to its end."""
        params, counter = self.step.body.params, self.counter
        slices = [(s.node, feeds[s.source], s.index) for s in self.slices]
        run: Any = None
        check = False
        updates, rows, keeping = self._layout(keys, sums, kept)
        stacks = list(saved.items())
        guard, bound, table = self._guard(feeds)
        if counter is not None:  # (see loop_counter.py)
            tick, end, compare = counter.param, counter.limit(feeds), TESTS[counter.test]
            t, k = int(feeds[tick]), 0
            ticks = counter.ticks(xp, t, end, limit, feeds[tick].dtype)
        fast: Any = None
        count = 0
        while test and (limit is None or count < limit):
            if counter is not None:
                if k == len(ticks):  # (a loop longer than the ticks made: more)
                    ticks, k = counter.ticks(xp, t, end, limit, ticks.dtype), 0
                feeds[tick] = ticks[k, ...]
                k += 1
            for param, stack in stacks:
                stack.append(feeds[param])
            for node, source, index in slices:  # (a row, as a view: see find_slices)
                feeds[node] = source[int(feeds[index]), ...]
            if run is None:  # (the first iteration: every parameter has its shape now)
                program = self.step.program_for([feeds[p] for p in params])
                run, check = program.run, not _keeps_shapes(program,
                                                             [feeds[p] for p in updates])
                if check:
                    guard = None  # (shapes may change: the plain step every iteration)
            if guard is not None and (i := int(feeds[guard])) < bound and (
                    table is None or table[i]):  # every mask all true: see loop_variants.py
                if fast is None:
                    fast = self._alive_run(program, feeds)
                out = fast(feeds, _NO_VARIABLES)[0]
            else:
                out = run(feeds, _NO_VARIABLES)[0]
            for acc, at in rows:  # (the row and its index: see without_sums)
                acc[int(out[at + 1])] += out[at]
            for values, at in keeping:
                values.append(out[at])
            count += 1
            if counter is None:
                test = out[len(updates)]
            else:
                t += counter.step
                test = compare(t, end)
            if check and any(feeds[p].shape != a.shape
                             for p, a in zip(updates, out, strict=False)):
                # a relaxed shape invariant let a variable's shape change: another program
                feeds.update(zip(updates, out, strict=False))
                run = self.step.program_for([feeds[p] for p in params]).run
            else:
                feeds.update(zip(updates, out, strict=False))  # (the loop variables only)
            if not check:
                break  # (the other iterations: below)
        if count and not check and test and (limit is None or count < limit):
            state = None if counter is None else (tick, ticks, k, t, counter.step, end, compare,
                                                  lambda t: counter.ticks(xp, t, end, limit,
                                                                          ticks.dtype))
            count, test, state = self._generated(
                xp, feeds, test, count, limit, (run, fast, program), saved, slices,
                list(sums.values()), kept, updates, state, (guard, bound, table))
            if counter is not None:
                t = state[3]
        if counter is not None and count:
            feeds[tick] = xp.asarray(t, dtype=ticks.dtype)  # (its value after the last step)
        return count

    def _generated(self, xp: Any, feeds: dict[int, Any], test: Any, count: int,
                   limit: int | None, runs: tuple[Any, Any, Any], saved: dict[int, Any],
                   slices: list[Any], sums: list[Any], kept: list[Any], updates: list[int],
                   state: Any, guard: tuple[Any, float, Any]) -> tuple[int, Any, Any]:
        """Runs the iterations after the first in the generated loop (loop_codegen.py),
        writing the stacks in place (loop_stacks.py): ``saved`` and ``kept`` end holding
        the finished stacks. Returns (count, test, the counter's state)."""
        counter, (run, fast, program) = self.counter, runs
        tick = None if counter is None else counter.param
        end = 0 if state is None else state[5]
        size = expected(counter, 0 if state is None else state[3], end, count, limit)
        stacks = in_place(xp, list(saved.items()), kept, feeds, tick, size) if (
            saved or kept) else None
        # (else lists, appended to as before)
        rows, values = ((list(saved.items()), kept) if stacks is None
                        else (stacks.saved, stacks.kept))
        loop = self._loop(len(saved) - (tick in saved if stacks else 0), guard[0] is not None,
                          guard[2] is not None, stacks is not None)
        top = sys.maxsize if limit is None else limit
        alive = lambda: self._alive_run(program, feeds)  # noqa: E731
        while True:
            count, test, fast, state = loop(
                feeds, test, count, top if stacks is None else min(top, stacks.size), run, fast,
                alive, rows, slices, sums, values, updates, state, guard)
            if stacks is None or not test or count >= top:
                break
            stacks.grow(xp, count, limit)  # (it ran past the rows expected: twice as many)
            rows, values = stacks.saved, stacks.kept
        if stacks is not None:
            for param, array in stacks.saved:
                saved[param] = stacks.finished(array, count)
            kept[:] = [stacks.finished(array, count) for array in stacks.kept]
            if tick in saved:  # (the counter's stack: its values, made in one call)
                start = int(saved[tick][0])
                saved[tick] = counted(xp, start, counter.step, count,  # type: ignore[union-attr]
                                      saved[tick][0].dtype)
        return count, test, state

    def _loop(self, stacks: int, guarded: bool, tabled: bool, in_place: bool) -> Any:
        """The generated loop for this runner's step (loop_codegen.py), made once."""
        key = (stacks, guarded, tabled, in_place)
        loop = self._loops.get(key)
        if loop is None:
            n_updates = len(self.kept) - (self.counter is not None)
            loop = self._loops[key] = loop_for(Shape(
                stacks, len(self.slices), len(self.sums), len(self.keep), n_updates,
                self.counter is not None, guarded, tabled,
                None if self.counter else n_updates, self._same, in_place))
        return loop

    def _alive_run(self, program: Any, feeds: Mapping[int, Any]) -> Any:
        """The all-alive step's run for inputs that get the step ``program`` (whose inputs
        decide the all-alive step's: it reads fewer), looked up once per program."""
        run = self._alive_runs.get(id(program))
        if run is None:
            arrays = [feeds[p] for p in self.step.body.params]
            run = self._alive_runs[id(program)] = self.alive.program_for(arrays).run
        return run

    def _layout(self, keys: list[int], sums: dict[int, Any], kept: list[list[Any]]
                ) -> tuple[list[int], list[tuple[Any, int]], list[tuple[list[Any], int]]]:
        """The step's outputs: the kept variables' next values (but a counter's: the
        parameters they update), the test (none with a counter), per summed variable its
        row and index (accumulator, position), the values kept (list, position)."""
        counter = self.counter
        updates = keys if counter is None else keys[:counter.position] + keys[
            counter.position + 1:]
        at = len(updates) + (counter is None)
        rows = [(acc, at + 2 * j) for j, acc in enumerate(sums.values())]
        at += 2 * len(sums)
        return updates, rows, [(values, at + j) for j, values in enumerate(kept)]

    def _guard(self, feeds: Mapping[int, Any]) -> tuple[int | None, float, Any]:
        """(the index the guards test, the bound it must be below, the table of rows that
        are all true) for this loop's inputs; index None when no guard applies."""
        guards = self.alive.guards if self.alive is not None else ()
        if not guards or len({g.index for g in guards}) != 1:
            return None, 0, None
        bound, table = float("inf"), None
        for g in guards:
            source = feeds[g.source]
            if g.row:  # (one reduction a loop: which rows of the saved masks are all true)
                rows = source.all(axis=tuple(range(1, source.ndim)))
                table = rows if table is None else table & rows
            elif source.size:  # t < x everywhere iff t < min(x)
                bound = min(bound, int(source.min()))
        return guards[0].index, bound, table


def _same(indices: Sequence[int]) -> tuple[int, ...]:
    """Per slice (its index): the first earlier slice at the same index, or -1."""
    first: dict[int, int] = {}
    found = []
    for j, index in enumerate(indices):
        found.append(first.get(index, -1))
        first.setdefault(index, j)
    return tuple(found)


def _keeps_shapes(program: Any, arrays: Sequence[Any]) -> bool:
    """Whether ``program`` (a compiled step) gives each loop variable the shape ``arrays``
    have now, whatever the values (so the same program runs every iteration)."""
    graph = getattr(program, "graph", None)
    if graph is None:
        return False
    return all(graph[o].shape == tuple(a.shape)
               for o, a in zip(graph.outputs, arrays, strict=False))


def _rows_first(xp: Any, array: Any, source: int, destination: int) -> Any:
    return array if source == destination else xp.moveaxis(array, source, destination)


def _stacked(xp: Any, values: Any, like: Any) -> Any:
    if not isinstance(values, list):
        return values  # (written in place: loop_stacks.py)
    if values and getattr(xp, "__name__", "") == "numpy":
        # numpy copies a list of same-shaped arrays in C: np.stack, a Python loop over
        # them, takes 2x as long for 40 hidden states and 10x for 40 step counters
        return xp.array(values)
    return stacked(xp, values, like)
