"""One trace of a ``tapeflow.static.function``: its graph, Session and what a call does.

A call loads the graph's Variables from the eager tensors when those changed since the last
call (a new array, or a version counter that moved), runs the compiled plan, and writes the
new values of everything the function changed in place (parameters, optimizer buffers,
``.grad``) back into the eager tensors, as the eager step would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...dynamic import dispatch
from ...dynamic.creation import from_numpy
from ...dynamic.interop import array_of, assign, version_of
from ...dynamic.interop import wrap as wrap_array
from ...dynamic.tensor import Tensor as DynamicTensor
from ...runtime.backend import to_device
from .. import nest
from ..graph import Graph
from ..session import Session
from ..tensor import Operation
from ..tensor import Tensor as Symbol
from .tracing import Slot, Tracer


@dataclass
class ConcreteFunction:
    """One trace: the graph for one input signature, its Session and what a call does."""

    graph: Graph
    session: Session
    inputs: list[tuple[int, Symbol]]  # (argument leaf index, placeholder)
    fetches: list[Symbol]
    template: Any  # the structure of the result
    results: list[Any]  # per result leaf: ("fetch", i), ("value", obj), ("copy", tensor)
    state: list[Slot]  # slots with a Variable, loaded from their tensors when stale
    writebacks: list[tuple[Any, int]]  # (eager tensor, fetch index) written after a call
    grads: list[tuple[Any, int | None]]  # (parameter, fetch index or None: .grad = None)
    tracer: Tracer
    load: Operation | None
    after: list[tuple[int | None, Callable[[Any], None]]]  # (fetch index, action) per call
    input_grads: list[tuple[int, int]]  # (argument leaf index, fetch index) of inputs' .grad
    synced: dict[int, tuple[Any, int]] = field(default_factory=dict)
    calls: int = 0

    def guards_hold(self) -> bool:
        return all(read() == expected for read, expected in self.tracer.guards)

    def feed(self, leaves: list[Any]) -> dict[Any, Any]:
        feed: dict[Any, Any] = {}
        for index, placeholder in self.inputs:
            leaf = leaves[index]
            feed[placeholder] = array_of(leaf) if isinstance(leaf, DynamicTensor) else leaf
        for placeholder, compute in self.tracer.feeds:
            feed[placeholder] = np.asarray(compute(), dtype=placeholder.dtype.np)
        return feed

    def _changed(self, tensor: Any) -> bool:
        # another array (Module.to, .data =) or an in-place change since the last call
        array, version = self.synced.get(id(tensor), (None, -1))
        return array is not array_of(tensor) or version != version_of(tensor)

    def sync(self) -> None:
        """Loads the Variables from the eager tensors if any changed since the last call."""
        if self.load is None or not any(self._changed(s.tensor) for s in self.state):
            return
        self.session.run(self.load, {s.load: array_of(s.tensor) for s in self.state})
        for s in self.state:
            self.synced[id(s.tensor)] = (array_of(s.tensor), version_of(s.tensor))

    def __call__(self, leaves: list[Any]) -> Any:
        self.sync()
        values = self.session.run(self.fetches, self.feed(leaves))
        for tensor, at in self.writebacks:
            # an in-place change, as the eager step makes
            assign(tensor, to_device(np.asarray(values[at]), self.tracer.device or "cpu"))
            self.synced[id(tensor)] = (array_of(tensor), version_of(tensor))
        for param, grad in self.grads:
            param.grad = None if grad is None else self._tensor(values[grad])
        for i, index in self.input_grads:
            new = self._tensor(values[index])
            held = leaves[i].grad
            leaves[i].grad = new if held is None else dispatch.apply("add", held, new)
        for fetched, action in self.after:
            action(None if fetched is None else values[fetched])
        self.calls += 1
        # Session.run hands out arrays that no later run writes into: they can be the results
        out = [self._tensor(values[ref]) if kind == "fetch"
               else ref.clone() if kind == "copy" else ref for kind, ref in self.results]
        return nest.pack(self.template, out)

    def _tensor(self, value: Any) -> Any:
        """A fetched value (a host array) as a tensor on the traced graph's device."""
        if self.tracer.device == "gpu":
            return wrap_array(to_device(np.asarray(value), "gpu"))
        return from_numpy(np.asarray(value))

    def plan(self, leaves: list[Any]) -> Any:
        """The compiled memory plan of a call (``static.planner.Plan``)."""
        self.sync()
        return self.session.plan(self.fetches, self.feed(leaves))


__all__ = ["ConcreteFunction"]
