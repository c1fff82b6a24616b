"""``tf.Session``: holds variable values and runs the part of a graph that fetches need.

``run(fetches, feed_dict)`` flattens the fetch structure, checks and converts the feeds as
TF1 does, and looks up a Program cached per (fetch ids, feed signature); on a miss it prunes
the graph (``graphs.ir.subgraph``), specialises it to the fed shapes and asks
``program.build_program`` for one. Semantics of one run, defined here once:

* every read of a variable sees its value from the start of the run;
* assignments land after the run succeeded (the last assign of a variable wins), so a
  failed run changes no variable;
* ``group``/``no_op``/``control_dependencies`` decide what runs, not the order of reads
  and writes (TF1 left that order to a race).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graphs import ir
from ..runtime import ShapeError, Spec, get
from ..runtime.backend import to_device
from ..runtime.memory import too_large
from ..runtime.registry import format_shape
from . import nest
from .compiler.program import CompileOptions, Program, build_program
from .errors import FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError
from .graph import Graph, format_tf_shape, get_default_graph
from .numerics import is_check_numerics_enabled
from .tensor import Operation, Tensor

_session_stack: list[Session] = []


@dataclass
class _Entry:
    """One cached program and what a run of it needs."""

    program: Program
    slots: list[int | None]  # per fetch: index into the program's outputs, None for an op
    read_vars: tuple[int, ...]  # variables whose start-of-run value the program reads
    graph_ir: ir.Graph
    feed_ids: tuple[int, ...]  # the feeds the pruned graph uses (others are ignored)
    # the program never hands back a feed or variable array itself (program.py)
    fresh: bool = False


@dataclass
class _Fast:
    """A run seen before, found by the fetch and feed-key objects themselves (no flattening,
    name lookups or sorting): the entry, and per feed key its node id, dtype and shape."""

    entry: _Entry
    feeds: tuple[tuple[int, Any, tuple[int, ...], bool], ...]  # (id, np dtype, shape, used)
    kind: type | None  # list/tuple of fetches, or None for a single fetch


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
        self._store: dict[int, Any] = {}
        self._cache: dict[Any, _Entry] = {}
        self._fast: dict[Any, _Fast] = {}
        self._closed = False

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Session:
        _session_stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if _session_stack and _session_stack[-1] is self:
            _session_stack.pop()
        self.close()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        """Makes this the default session (for ``Tensor.eval``) without closing it after."""
        _session_stack.append(self)
        try:
            yield self
        finally:
            _session_stack.pop()

    def close(self) -> None:
        """Frees the variable values and cached programs; later runs raise RuntimeError."""
        self._closed = True
        self._store.clear()
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
        fast_key = _fast_key(fetches, feed_dict)
        fast = self._fast.get(fast_key) if fast_key is not None else None
        if fast is not None:
            fed = self._fast_feeds(fast, feed_dict)
            if fed is not None:
                results = self._execute(fast.entry, fed)
                if fast.kind is None:
                    return results[0]
                return results if fast.kind is list else tuple(results)
        entry, feeds, template = self._lookup(fetches, feed_dict)
        if fast_key is not None:
            self._remember(fast_key, fetches, feed_dict, feeds, entry)
        if len(feeds) != len(entry.feed_ids):
            feeds = {nid: feeds[nid] for nid in entry.feed_ids}
        return nest.pack(template, self._execute(entry, feeds))

    def _lookup(self, fetches: Any, feed_dict: dict[Any, Any] | None
                ) -> tuple[_Entry, dict[int, Any], Any]:
        """The full path: checked fetches and feeds, and the program cached for them (compiled
        on a miss), per (fetch ids, feed signature). Returns (entry, feeds, fetch template)."""
        leaves, template = nest.flatten(fetches)
        fetch_keys = tuple(self._fetch_key(f) for f in leaves)
        feeds = self._feeds(feed_dict) if feed_dict else {}
        signature = tuple(sorted((nid, a.shape, a.dtype.str) for nid, a in feeds.items()))
        key = (fetch_keys, signature)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(fetch_keys, feeds)
            self._cache[key] = entry
        return entry, feeds, template

    def _execute(self, entry: _Entry, feeds: dict[int, Any]) -> list[Any]:
        """Runs a cached program: the fetched values in order, variables updated after."""
        store = self._store
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
        for vid, value in updates.items():
            store[vid] = _fresh(value, owned)
        return results

    def _remember(self, fast_key: Any, fetches: Any, feed_dict: dict[Any, Any] | None,
                  feeds: dict[int, Any], entry: _Entry) -> None:
        """Files a checked run under its fetch and feed-key objects (see ``_fast_key``)."""
        used = set(entry.feed_ids)
        meta = []
        for key in feed_dict or ():
            tensor = self.graph.get_tensor_by_name(key) if isinstance(key, str) else key
            array = feeds[tensor.node_id]
            meta.append((tensor.node_id, tensor.dtype.np, tuple(array.shape),
                         tensor.node_id in used))
        kind = type(fetches) if type(fetches) in (list, tuple) else None
        self._fast[fast_key] = _Fast(entry, tuple(meta), kind)

    def _fast_feeds(self, fast: _Fast, feed_dict: dict[Any, Any] | None) -> dict[int, Any] | None:
        """The feeds of a run like a remembered one; None when a value's shape or dtype
        differs (then the full path checks it, and compiles if it must)."""
        feeds: dict[int, Any] = {}
        if not feed_dict:
            return feeds
        device = self.options.device
        for (nid, dtype, shape, used), value in zip(fast.feeds, feed_dict.values(), strict=True):
            try:
                array = np.asarray(value, dtype=dtype)
            except (TypeError, ValueError):
                return None
            if array.shape != shape:
                return None
            if used:
                feeds[nid] = array if device == "cpu" else to_device(array, device)
        return feeds

    def plan(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        """The compiled memory plan that ``run(fetches, feed_dict)`` uses (nothing is run).

        Returns a ``static.planner.Plan``: ``steps`` (op, inputs, output buffer, offset,
        size, lifetime), ``naive_bytes``, ``arena_bytes``, ``lower_bound_bytes``,
        ``validate()``, ``live_bytes_per_step()``; ``print(plan)`` shows it as a table.
        The program is compiled (and cached) for this fetch structure and feed signature.

        Example:
            >>> # print(sess.plan([loss, train_op], {x: batch_x, y: batch_y}))
        """
        # compiler hook (static/compiler/pipeline.py)
        from .compiler.pipeline import plan_of

        entry, _, _ = self._lookup(fetches, feed_dict)
        return plan_of(entry.program, entry.graph_ir, self.options)

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
        for key, value in feed_dict.items():
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
                array = np.asarray(value, dtype=tensor.dtype.np)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Cannot feed value {value!r} for Tensor '{tensor.name}' "
                                 f"of dtype {tensor.dtype.name}: {exc}") from None
            if not _fits(tensor.spec.shape, array.shape):
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
        if feeds:
            nodes = dict(nodes)
            for nid, array in feeds.items():
                # a fed node (placeholder or not) becomes a placeholder of the fed shape
                nodes[nid] = nodes[nid].with_(kind="placeholder", op="", inputs=(), attrs={},
                                              shape=tuple(array.shape), value=None)
        outputs = self._with_control_deps(nodes, list(dict.fromkeys(tensor_ids + target_ids)))
        pruned = ir.subgraph(nodes, outputs)
        missing = [n for n in pruned.nodes if n.kind == "placeholder" and n.id not in feeds]
        if missing:
            raise InvalidArgumentError(
                "You must feed a value for placeholder tensor "
                + ", ".join(f"'{n.name}' with dtype {n.dtype.name} and shape "
                            f"{format_tf_shape(n.shape)} (built at {n.site})" for n in missing),
                op_name=missing[0].name)
        pruned = _specialize(pruned)
        _check_sizes(pruned)
        feed_ids = tuple(sorted(nid for nid in feeds if nid in pruned))
        program = build_program(pruned, feed_ids, self.options)
        self.compile_count += 1
        index = {nid: i for i, nid in enumerate(outputs)}
        slots = [index[k] if isinstance(k, int) else None for k in fetch_keys]
        return _Entry(program, slots, _read_variables(pruned), pruned, feed_ids,
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


def _fast_key(fetches: Any, feed_dict: dict[Any, Any] | None) -> Any:
    """A dict key made of the fetch and feed-key objects themselves, for a single fetch or a
    flat list/tuple of them; None for nested structures (those take the full path).

    The key holds the objects, so their identities cannot be reused while it is cached.
    """
    if type(fetches) in (list, tuple):
        if not all(isinstance(f, (Tensor, Operation, str)) for f in fetches):
            return None
        fetch_part: Any = (type(fetches), *fetches)
    elif isinstance(fetches, (Tensor, Operation, str)):
        fetch_part = fetches
    else:
        return None
    feed_part = tuple(feed_dict) if feed_dict else ()
    if not all(isinstance(k, (Tensor, str)) for k in feed_part):
        return None
    return (fetch_part, feed_part)


def _fits(static: tuple[int | None, ...] | None, shape: tuple[int, ...]) -> bool:
    """Whether a fed shape matches a static one (``None`` dims and unknown rank match all)."""
    if static is None:
        return True
    if len(static) != len(shape):
        return False
    return all(d is None or d == s for d, s in zip(static, shape, strict=True))


def _specialize(graph: ir.Graph) -> ir.Graph:
    """Re-infers each call node's shape from the concrete shapes of this run's sources."""
    specs: dict[int, Spec] = {}
    nodes: list[ir.Node] = []
    for node in graph.nodes:
        if node.kind == "call":
            inputs = [specs[i] for i in node.inputs]
            try:
                spec = get(node.op).infer(*inputs, **node.attrs)
            except ShapeError as exc:
                shown = ", ".join(format_shape(s.shape) for s in inputs)
                raise InvalidArgumentError(f"{exc} (node '{node.name}' with input shapes {shown}, "
                                           f"built at {node.site})", op_name=node.name) from None
            if spec.shape != node.shape:
                node = node.with_(shape=spec.shape)
        specs[node.id] = Spec(node.shape, node.dtype)
        nodes.append(node)
    return ir.Graph(tuple(nodes), graph.outputs)


def _check_sizes(graph: ir.Graph) -> None:
    """TF1's OOM error, raised before the program allocates anything: names the node, its
    shape and the bytes it would take."""
    for node in graph.nodes:
        if node.kind != "call" or node.shape is None or None in node.shape:
            continue
        why = too_large(node.shape, node.dtype.itemsize)  # type: ignore[arg-type]
        if why is not None:
            shape = ",".join(str(d) for d in node.shape)
            raise ResourceExhaustedError(
                f"OOM when allocating tensor with shape[{shape}] and type {node.dtype.name}: "
                f"node '{node.name}' (op {node.op}, built at {node.site}) would need {why}",
                op_name=node.name)


def _read_variables(graph: ir.Graph) -> tuple[int, ...]:
    """Variables whose value the graph uses (not those it only assigns to)."""
    read: set[int] = {o for o in graph.outputs if graph[o].kind == "variable"}
    for node in graph.nodes:
        inputs = node.inputs[1:] if node.kind == "assign" else node.inputs
        read.update(i for i in inputs if graph[i].kind == "variable")
    return tuple(sorted(read))


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
    """The innermost session entered with ``with`` (or ``as_default``), else None."""
    return _session_stack[-1] if _session_stack else None


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
        _session_stack.append(self)

    def close(self) -> None:
        if self in _session_stack:
            _session_stack.remove(self)
        super().close()
