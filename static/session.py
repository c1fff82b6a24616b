"""``tf.Session``: holds variable values and runs the part of a graph that fetches need.

``run(fetches, feed_dict)`` flattens the fetch structure, checks and converts the feeds as
TF1 does, and looks up a Program cached per (fetch ids, feed signature); on a miss it adds
the control dependencies to the fetches and hands the graph to ``compiler.compile``, which
prunes and specialises it. Semantics of one run, defined here once:

* every read of a variable sees its value from the start of the run;
* assignments land after the run succeeded (the last assign of a variable wins), all at
  once: a failed or interrupted run (KeyboardInterrupt included) changes no variable;
* runs that assign variables are serialised (read, run, commit under one lock), so
  concurrent training steps never lose an update, whatever ``use_locking`` says; runs
  that only read stay concurrent;
* ``group``/``no_op``/``control_dependencies`` decide what runs, not the order of reads
  and writes (TF1 left that order to a race).

The compile cache keeps ``CompileOptions.max_cached_programs`` programs (64 unless set),
least recently used dropped first; the default session stack is per thread, as in TF1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graphs import ir
from ..runtime import Spec
from ..runtime.backend import as_array, to_device
from ..runtime.dtypes import CONVERSION_ERRORS
from . import nest
from .compiler import CompileOptions, Program, compile, inspect_plan
from .compiler.pipeline import shape_fits
from .errors import FailedPreconditionError
from .graph import Graph, get_default_graph
from .numerics import is_check_numerics_enabled
from .session_cache import LRUCache, Remembered, key_of
from .tensor import Operation, Tensor


class _Defaults(threading.local):
    """The default session stack, one per thread (TF1 keeps it per thread too)."""

    def __init__(self) -> None:
        self.stack: list[Session] = []


_defaults = _Defaults()


@dataclass
class _Entry:
    """One cached program and what a run of it needs."""

    program: Program
    slots: list[int | None]  # per fetch: index into the program's outputs, None for an op
    read_vars: tuple[int, ...]  # variables whose start-of-run value the program reads
    feed_ids: tuple[int, ...]  # the feeds the pruned graph uses (others are ignored)
    assigns: bool  # the program writes variables: its runs take the session's commit lock
    # the program never hands back a feed or variable array itself (compiler/pipeline.py)
    fresh: bool = False
    used: int = 0  # recency stamp of the compile cache
    evicted: bool = False  # dropped by the compile cache (the fast path then recompiles)


class Session:
    """Runs graph fragments and keeps the values of the graph's variables.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     x = tf.placeholder(tf.float32, [None, 2], name="x")
        ...     y = tf.reduce_sum(x * 2)
        ...     with tf.Session() as sess:
        ...         print(sess.run(y, feed_dict={x: [[1, 2], [3, 4]]}))
        20.0
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None,
                 options: CompileOptions | None = None) -> None:
        self.graph = graph if graph is not None else get_default_graph()
        self.options = options or CompileOptions()
        if is_check_numerics_enabled() and not self.options.check_numerics:
            self.options = dataclasses.replace(self.options, check_numerics=True)
        self.compile_count = 0
        # variable id -> value; replaced as a whole by each commit (never mutated), so a
        # run reads one consistent snapshot and a commit is one reference swap
        self._store: dict[int, Any] = {}
        limit = self.options.max_cached_programs
        self._cache = LRUCache(limit, warn=f"Session of graph {id(self.graph):#x}",
                               on_evict=self._forget)
        self._fast = LRUCache(limit)
        self._commit_lock = threading.Lock()  # held by runs that assign: read, run, commit
        self._compile_lock = threading.RLock()
        self._closed = False

    def _forget(self, entry: _Entry) -> None:
        """An entry the compile cache dropped: no fast-path record keeps it alive."""
        entry.evicted = True
        self._fast.remove_where(lambda remembered: remembered.entry is entry)

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Session:
        _defaults.stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        stack = _defaults.stack
        if stack and stack[-1] is self:
            stack.pop()
        self.close()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        """Makes this the default session of this thread (for ``Tensor.eval``) without
        closing it after."""
        _defaults.stack.append(self)
        try:
            yield self
        finally:
            _defaults.stack.pop()

    def close(self) -> None:
        """Frees the variable values and cached programs; later runs raise RuntimeError."""
        self._closed = True
        self._store = {}
        self._cache.clear()
        self._fast.clear()

    @property
    def variable_values(self) -> dict[int, Any]:
        """This session's variable store (node id -> array), for inspection."""
        return dict(self._store)

    # ---- run ------------------------------------------------------------------------------

    def run(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        """Evaluates ``fetches`` (a tensor, op, variable or nested list/tuple/dict of them).

        The result has the structure of ``fetches``; a fetched op gives None.
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        fast_key = key_of(fetches, feed_dict)
        fast = self._fast.get(fast_key) if fast_key is not None else None
        if fast is not None and not fast.entry.evicted:
            entry = fast.entry
            self._cache.touch(entry)
            fed = fast.feeds_of(feed_dict, self.options.device)
            if fed is not None:
                results = self._execute(entry, fed)
                if fast.kind is None:
                    return results[0]
                return results if fast.kind is list else tuple(results)
        entry, feeds, template = self._lookup(fetches, feed_dict)
        if fast_key is not None:
            self._fast.put(fast_key, Remembered.of(
                self.graph, fetches, feed_dict, feeds, entry, set(entry.feed_ids)))
        if len(feeds) != len(entry.feed_ids):
            feeds = {nid: feeds[nid] for nid in entry.feed_ids}
        return nest.pack(template, self._execute(entry, feeds))

    def _lookup(self, fetches: Any, feed_dict: dict[Any, Any] | None
                ) -> tuple[_Entry, dict[int, Any], Any]:
        """The full path: checked fetches and feeds, and the program cached for them (compiled
        on a miss), per (fetch ids, feed signature). Returns (entry, feeds, template)."""
        leaves, template = nest.flatten(fetches)
        fetch_keys = tuple(self._fetch_key(f) for f in leaves)
        feeds = self._feeds(feed_dict) if feed_dict else {}
        signature = tuple(sorted((nid, a.shape, a.dtype.str) for nid, a in feeds.items()))
        key = (fetch_keys, signature)
        entry = self._cache.get(key)
        if entry is None:
            with self._compile_lock:  # one compile at a time; another thread may have won
                entry = self._cache.get(key)
                if entry is None:
                    entry = self._compile(fetch_keys, feeds)
                    self._cache.put(key, entry)
        return entry, feeds, template

    def _execute(self, entry: _Entry, feeds: dict[int, Any]) -> list[Any]:
        """Runs a cached program: the fetched values in order, variables updated after."""
        if not entry.assigns:
            return self._run_once(entry, feeds)
        with self._commit_lock:  # so no concurrent run commits between our read and commit
            return self._run_once(entry, feeds)

    def _run_once(self, entry: _Entry, feeds: dict[int, Any]) -> list[Any]:
        store = self._store  # one snapshot: every read sees the start of the run
        try:
            variables = {vid: store[vid] for vid in entry.read_vars}
        except KeyError:
            raise self._uninitialized(entry.read_vars) from None
        values, updates = entry.program.run(feeds, variables)
        owned: set[int] = set()
        if not entry.fresh:
            owned = {id(a) for a in feeds.values()} | {id(a) for a in variables.values()}
        results = [None if slot is None else _detach(values[slot], owned)
                   for slot in entry.slots]
        if updates:
            # the new store is complete before it replaces the old one: one reference swap,
            # which an interrupt cannot split, commits every update or none
            new = dict(self._store)
            for vid, value in updates.items():
                new[vid] = _fresh(value, owned)
            self._store = new
        return results

    def plan(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        """The compiled memory plan that ``run(fetches, feed_dict)`` uses (nothing is run).

        Returns a ``static.planner.Plan``: ``steps`` (op, inputs, output buffer, offset,
        size, lifetime), ``naive_bytes``, ``arena_bytes``, ``lower_bound_bytes``,
        ``validate()``, ``live_bytes_per_step()``; ``print(plan)`` shows it as a table.
        The program is compiled (and cached) for this fetch structure and feed signature.

        Example:
            >>> # print(sess.plan([loss, train_op], {x: batch_x, y: batch_y}))
        """
        entry, _, _ = self._lookup(fetches, feed_dict)
        return inspect_plan(entry.program, self.options)

    def _fetch_key(self, fetch: Any) -> Any:
        item = fetch
        if isinstance(fetch, str):
            item = (self.graph.get_tensor_by_name(fetch) if ":" in fetch
                    else self.graph.get_operation_by_name(fetch))
        if isinstance(item, (Tensor, Operation)):
            if item.graph is not self.graph:
                raise ValueError(f"Fetch argument {item!r} cannot be interpreted as a Tensor. "
                                 f"({item} is not an element of this graph.)")
            return item.node_id if isinstance(item, Tensor) else ("op", item.targets)
        raise TypeError(f"Fetch argument {fetch!r} has invalid type {type(fetch)}, must be a "
                        f"string or Tensor. (Can not convert a {type(fetch).__name__} into a "
                        "Tensor or Operation.)")

    def _feeds(self, feed_dict: dict[Any, Any]) -> dict[int, Any]:
        feeds: dict[int, Any] = {}
        for key, value in nest.feed_items(feed_dict):  # a tuple key feeds each of its leaves
            tensor = key
            if isinstance(key, str):
                tensor = self.graph.get_tensor_by_name(key)
            if not isinstance(tensor, Tensor):
                raise TypeError(f"Cannot interpret feed_dict key as Tensor: {key!r} is not a "
                                "Tensor or a tensor name")
            if tensor.graph is not self.graph:
                raise ValueError(f"Cannot interpret feed_dict key as Tensor: Tensor {tensor} "
                                 "is not an element of this graph.")
            try:
                array = as_array(value, tensor.dtype.np, self.options.device)
            except CONVERSION_ERRORS as exc:
                raise ValueError(f"Cannot feed value {value!r} for Tensor '{tensor.name}' "
                                 f"of dtype {tensor.dtype.name}: {exc}") from None
            if not shape_fits(tensor.spec.shape, array.shape):
                raise ValueError(f"Cannot feed value of shape {array.shape} for Tensor "
                                 f"'{tensor.name}', which has shape '{tensor.shape}'")
            if self.options.device != "cpu":
                array = to_device(array, self.options.device)
            feeds[tensor.node_id] = array
        return feeds

    def _uninitialized(self, read_vars: tuple[int, ...]) -> FailedPreconditionError:
        missing = [self.graph.node(v) for v in read_vars if v not in self._store]
        names = ", ".join(n.name for n in missing)
        detail = "; ".join(f"{n.name} (built at {n.site})" for n in missing)
        return FailedPreconditionError(
            f"Attempting to use uninitialized value {names}. Run its initializer (e.g. "
            f"sess.run(tf.global_variables_initializer())) first. Variables: {detail}",
            op_name=missing[0].name)

    # ---- compile (a cache miss) --------------------------------------------------------------

    def _compile(self, fetch_keys: tuple[Any, ...], feeds: dict[int, Any]) -> _Entry:
        tensor_ids = [k for k in fetch_keys if isinstance(k, int)]
        target_ids = [i for k in fetch_keys if not isinstance(k, int) for i in k[1]]
        nodes: dict[int, ir.Node] = self.graph.nodes
        if feeds and self.graph.control_deps:
            # a fed node's inputs do not run, nor do their control dependencies
            nodes = {**nodes, **{nid: nodes[nid].with_(inputs=()) for nid in feeds}}
        outputs = self._with_control_deps(nodes, list(dict.fromkeys(tensor_ids + target_ids)))
        specs = {nid: Spec(tuple(a.shape), self.graph.nodes[nid].dtype)
                 for nid, a in feeds.items()}
        graph = ir.Graph(tuple(self.graph.nodes.values()), tuple(outputs))
        program = compile(graph, specs, self.options)
        self.compile_count += 1
        index = {nid: i for i, nid in enumerate(outputs)}
        slots = [index[k] if isinstance(k, int) else None for k in fetch_keys]
        source = program.source
        return _Entry(program, slots, source.read_vars, source.feed_ids, bool(source.assigned),
                      bool(getattr(program, "fresh_results", False)))

    def _with_control_deps(self, nodes: dict[int, ir.Node], outputs: list[int]) -> list[int]:
        """``outputs`` plus every control dependency of the nodes they need (transitively)."""
        control = self.graph.control_deps
        if not control:
            return outputs
        while True:
            present = set(outputs)
            extra = [d for nid in ir.toposort(nodes, outputs) for d in control.get(nid, ())
                     if d not in present]
            if not extra:
                return outputs
            outputs = outputs + list(dict.fromkeys(extra))


def _fresh(value: Any, owned: set[int]) -> Any:
    # a value that is a feed, a variable's old value, or a view must not become shared state
    if id(value) in owned or getattr(value, "base", None) is not None:
        return value.copy()
    return value


def _detach(value: Any, owned: set[int]) -> Any:
    """A fetched value as the user gets it: a numpy array that nothing else holds."""
    if value is None:
        return None
    if not isinstance(value, np.ndarray):
        value = to_device(value, "cpu")
    if value.ndim == 0:
        return value[()]  # TF1 gives numpy scalars (np.float32) for 0-d fetches
    return _fresh(value, owned)


def get_default_session() -> Session | None:
    """This thread's innermost session entered with ``with`` (or ``as_default``), else None."""
    stack = _defaults.stack
    return stack[-1] if stack else None


def session_or_default(session: Session | None, what: str) -> Session:
    session = session or get_default_session()
    if session is None:
        raise ValueError(f"Cannot evaluate {what} using `eval()`: No default session is "
                         "registered. Use `with sess.as_default()` or pass an explicit "
                         "session to `eval(session=sess)`")
    return session


class InteractiveSession(Session):
    """A Session that makes itself the default as soon as it is created (for notebooks)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None,
                 options: CompileOptions | None = None) -> None:
        super().__init__(target, graph, config, options)
        _defaults.stack.append(self)  # (on the stack of the thread that created it)

    def close(self) -> None:
        if self in _defaults.stack:
            _defaults.stack.remove(self)
        super().close()
