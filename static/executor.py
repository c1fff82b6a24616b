"""The executor: a flat list of kernel calls writing into preallocated arena views.

Everything is bound once, at compile time. Each step is ``[kernel, args, out, attrs, push,
node]``; the hot loop is just::

    for fn, args, out, attrs, push, node in steps:
        r = fn(xp, *args, out=out, **attrs)

with no dict lookups and no shape inference. ``args`` is a list holding the input arrays.
Arena buffers and consts sit at fixed addresses, so they are put into ``args`` once, when
compiling; so are views of them (a reshape of an arena buffer is computed once and reused
every run). Values that change from run to run -- feeds, variables, fresh arrays for
fetched and assigned values, views of those, values of data-dependent size -- are
*pushed*: a step lists ``(args_list, position)`` pairs to write its result into.

Fetched values come back as arrays that no later run overwrites: a fetched (or assigned)
call writes straight into an array allocated for this run; anything else fetched (a view,
a feed, a variable, a const) is copied out at the end.

Example:
    >>> # ex = Executor(graph, plan_memory(graph)); values, updates = ex.run(feeds, variables)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..graphs.ir import Graph, Node
from ..graphs.liveness import is_view
from ..runtime import Arena, xp_for
from ..runtime.backend import to_device
from .errors import InvalidArgumentError
from .passes import concrete, outside_arena
from .planner import Plan

Push = list[tuple[list[Any], int]]


class ExecutionError(InvalidArgumentError):
    """A kernel failed at run time; names the node, its op and the user's source line."""


class MissingFeedError(InvalidArgumentError):
    """A placeholder (or variable) the schedule reads was not given a value."""


def _on_device(kernel: Any, device: str) -> Any:
    # random kernels draw on the host generator; the draw is moved to the device once
    def call(xp: Any, *args: Any, out: Any = None, **attrs: Any) -> Any:
        return to_device(kernel(xp, *args, **attrs), device)

    return call


def _returns_array(kernel: Any) -> Any:
    # numpy hands back scalars (np.float32) for some 0-d results; keep everything an array
    def call(xp: Any, *args: Any, **attrs: Any) -> Any:
        return xp.asarray(kernel(xp, *args, **attrs))

    return call


class Executor:
    """Runs one compiled graph: ``run(feeds, variables) -> (fetched values, updates)``.

    With a ``plan``, every arena buffer is a view of one :class:`~tapeflow.runtime.Arena`;
    without one, every call writes into an array of its own, allocated each run (the
    "naive" memory model, for comparison). The same kernels run either way, with ``out=``,
    so both give bit-identical results.
    """

    def __init__(self, graph: Graph, plan: Plan | None = None, device: str = "cpu") -> None:
        self.graph = graph
        self.plan = plan
        self.device = device
        self.xp = xp = xp_for(device)
        self.arena = Arena(plan.arena_bytes, device) if plan is not None else None
        self._to_device = device != "cpu"
        self._lock = threading.Lock()
        outside = outside_arena(graph)
        fixed: dict[int, Any] = {}
        pushes: dict[int, Push] = {}
        self.steps: list[list[Any]] = []
        self._sources: list[tuple[Node, Push]] = []
        self._fresh: list[tuple[list[Any], tuple[int, ...], Any, Push]] = []
        fresh_ids: set[int] = set()
        read = {i for n in graph.nodes if n.kind == "call" for i in n.inputs}
        read.update(o for o in graph.outputs if graph[o].kind != "assign")
        read.update(n.inputs[1] for n in graph.nodes if n.kind == "assign")
        for n in graph.nodes:
            if n.kind == "const":
                fixed[n.id] = xp.asarray(n.value)
            elif n.kind in ("placeholder", "variable"):
                if n.id in read:  # a variable that is only assigned (initialised) is not read
                    self._sources.append((n, pushes.setdefault(n.id, [])))
            elif n.kind == "call":
                args: list[Any] = []
                for k, i in enumerate(n.inputs):
                    if i in fixed:
                        args.append(fixed[i])
                    elif k in n.opdef.shape_only and concrete(graph[i].shape):
                        # only its shape is read: a zero-byte stand-in of that shape
                        like = xp.empty((), graph[i].dtype.np)
                        args.append(xp.broadcast_to(like, graph[i].shape))
                    else:
                        args.append(None)
                        pushes.setdefault(i, []).append((args, k))
                self._bind_call(n, args, fixed, pushes, outside, fresh_ids)
        # what the run hands back: fetched values, then the new value of each variable
        self._assigns = [(n.inputs[0], n.inputs[1]) for n in graph.nodes if n.kind == "assign"]
        # (a fetched assign's value is the value it assigns, as tf.assign returns it)
        wanted = [graph[o].inputs[1] if graph[o].kind == "assign" else o for o in graph.outputs]
        wanted += [value for _, value in self._assigns]
        self._sink: list[Any] = [None] * len(wanted)
        self._copy: list[bool] = []
        handed: set[int] = set()
        for pos, nid in enumerate(wanted):
            if nid in fixed:
                self._sink[pos] = fixed[nid]
            else:
                pushes.setdefault(nid, []).append((self._sink, pos))
            # a fresh array goes out once as it is; every other hand-out is a copy
            self._copy.append(not (nid in fresh_ids and nid not in handed))
            handed.add(nid)
        self._n_fetch = len(graph.outputs)

    def _bind_call(self, n: Node, args: list[Any], fixed: dict[int, Any],
                   pushes: dict[int, Push], outside: set[int], fresh_ids: set[int]) -> None:
        op = n.opdef
        kernel = op.kernel
        if op.kind == "random" and self.device != "cpu":
            kernel = _on_device(kernel, self.device)  # its result is copied into out
        attrs = dict(n.attrs)
        plan = self.plan
        if is_view(n):
            base = args[0]
            if n.inputs[0] in fixed and all(i in fixed for i in n.inputs):
                result = kernel(self.xp, *args, **attrs)
                # a view of a fixed array is itself fixed -- unless the kernel had to copy
                if getattr(result, "size", 0) and self.xp.may_share_memory(result, base):
                    fixed[n.id] = result
                    return
            if n.shape == ():
                kernel = _returns_array(kernel)
            self.steps.append([kernel, args, None, attrs, pushes.setdefault(n.id, []), n])
            return
        if plan is not None and n.id in plan.buffer_of:
            assert self.arena is not None
            b = plan.buffer_of[n.id]
            out = self.arena.view(plan.offsets[b], n.shape, n.dtype)  # type: ignore[arg-type]
            fixed[n.id] = out
            self.steps.append([kernel, args, out, attrs, (), n])
            return
        if concrete(n.shape):
            # an array of its own each run: fetched/assigned values, or no plan at all
            step = [kernel, args, None, attrs, (), n]
            self._fresh.append((step, tuple(n.shape), n.dtype.np,  # type: ignore[arg-type]
                                pushes.setdefault(n.id, [])))
            fresh_ids.add(n.id)
            self.steps.append(step)
            return
        # size known only at run time (a boolean mask): the kernel allocates
        self.steps.append([_returns_array(kernel), args, None, attrs,
                           pushes.setdefault(n.id, []), n])

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """Runs the schedule once; returns (fetched values, {variable id: new value}).

        Runs of one executor are serialised: they share the arena and the bound step list.
        """
        with self._lock:
            return self._run(feeds, variables)

    def _run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
             ) -> tuple[list[Any], dict[int, Any]]:
        xp = self.xp
        for node, push in self._sources:
            table = feeds if node.kind == "placeholder" else variables
            value = table.get(node.id)
            if value is None:
                raise MissingFeedError(f"You must feed a value for {node.kind} "
                                       f"'{node.name or node.id}'" + _at(node), op_name=node.name)
            if self._to_device:
                value = xp.asarray(value)
            for lst, k in push:
                lst[k] = value
        empty = xp.empty
        for step, shape, dtype, push in self._fresh:
            arr = step[2] = empty(shape, dtype)
            for lst, k in push:
                lst[k] = arr
        try:
            for fn, args, out, attrs, push, node in self.steps:  # noqa: B007 (read on error)
                r = fn(xp, *args, out=out, **attrs)
                if push:
                    for lst, k in push:
                        lst[k] = r
                elif r is not out and out is not None:
                    xp.copyto(out, r)  # a kernel that ignored out= (arange, eye)
        except Exception as exc:
            raise ExecutionError(f"{type(exc).__name__}: {exc}\nWhile executing "
                                 f"{node.format()}{_at(node)}", op_name=node.name) from exc
        values = [xp.array(v, copy=True) if c else v
                  for v, c in zip(self._sink, self._copy, strict=True)]
        updates = {var: values[self._n_fetch + k] for k, (var, _) in enumerate(self._assigns)}
        return values[:self._n_fetch], updates

    def __len__(self) -> int:
        return len(self.steps)


def _at(node: Node) -> str:
    return f" (created at {node.site})" if node.site else ""
