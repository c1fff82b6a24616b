"""``tapeflow.static.function`` and ``trace``: PyTorch-style code run as a compiled static graph.

The bridge between the two halves of tapeflow (tf.function, torch.jit.trace, jax.jit): the
first call with a new input signature (the shapes and dtypes of its tensors, the values of
its other arguments) runs the Python function once on symbolic stand-ins
(:mod:`tapeflow.static.jit.tracing`), which records a ``static.Graph``: forward, ``backward()``
as ``static.gradients`` and ``optimizer.step()`` as update nodes. A ``Session`` compiles it
(passes, memory plan) and every later call with that signature only runs the compiled plan.

Parameters are Variables of the graph, loaded from the eager tensors when those changed
since the last call, and the new values of everything the function writes in place
(parameters, optimizer buffers, ``.grad``) are written back after each call, so eager code
and traced code can take turns on the same model.
"""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ...dynamic.grad_mode import is_grad_enabled
from ...dynamic.interop import array_of, current_interceptor, intercepting
from ...dynamic.nn.module import Module
from ...dynamic.tensor import Tensor as DynamicTensor
from ...runtime import dtypes as dt
from .. import nest
from ..compiler import CompileOptions
from ..graph import Graph
from ..ops import group
from ..session import Session
from ..tensor import Tensor as Symbol
from .concrete import ConcreteFunction
from .symbolic import SymbolicArray, TracingError
from .tracing import Tracer, check_device

#: Traces of one function after which a warning says it keeps retracing.
RETRACE_WARNING = 5


class RetracingWarning(UserWarning):
    """A traced function was traced again and again (one trace per new input signature)."""


class TracedFunction:
    """A Python function (or ``nn.Module``) that runs as compiled static graphs.

    Attributes:
        trace_count: how many times the function was traced (once per new signature).
        graph: the graph of the latest trace; ``concrete_functions`` holds them all.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> import tapeflow.static as tf
        >>> @tf.function
        ... def f(x):
        ...     return (x * x).sum()
        >>> f(torch.ones(3)).item(), f(torch.ones(2)).item(), f.trace_count
        (3.0, 2.0, 2)
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 options: CompileOptions | None = None,
                 warn_after: int | None = RETRACE_WARNING) -> None:
        self.python_function = fn
        self.__name__: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.options = options
        self.warn_after = warn_after
        self.trace_count = 0
        self.concrete_functions: list[ConcreteFunction] = []
        self._cache: dict[Any, list[ConcreteFunction]] = {}
        self._warned = False
        if hasattr(fn, "__name__"):
            functools.update_wrapper(self, fn, updated=())
            self.__name__ = name or str(fn.__name__)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        # decorating a method: bind like a function (self becomes part of the signature)
        return self if obj is None else types.MethodType(self, obj)

    @property
    def graph(self) -> Graph:
        if not self.concrete_functions:
            raise ValueError(f"'{self.__name__}' has not been traced yet: call it first")
        return self.concrete_functions[-1].graph

    @property
    def compile_count(self) -> int:
        """Programs compiled by the sessions of all traces (one per trace, plus loads)."""
        return sum(c.session.compile_count for c in self.concrete_functions)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current_interceptor() is not None:  # this thread traces another function: inline
            return self.python_function(*args, **kwargs)
        leaves, concrete = self.get_concrete_function(*args, **kwargs)
        return concrete(leaves)

    def get_concrete_function(self, *args: Any, **kwargs: Any
                              ) -> tuple[list[Any], ConcreteFunction]:
        """The argument leaves and the trace for this call's signature (traced if new)."""
        leaves, template = nest.flatten((args, kwargs))
        key = (_freeze(template), tuple(_leaf_key(leaf) for leaf in leaves))
        for concrete in self._cache.get(key, []):
            if concrete.guards_hold():
                return leaves, concrete
        concrete = self._trace(leaves, template)
        self._cache.setdefault(key, []).append(concrete)
        return leaves, concrete

    def plan(self, *args: Any, **kwargs: Any) -> Any:
        """The memory plan that a call with these arguments runs (traced if new; not run)."""
        leaves, concrete = self.get_concrete_function(*args, **kwargs)
        return concrete.plan(leaves)

    # ---- tracing ---------------------------------------------------------------------------

    def _trace(self, leaves: list[Any], template: Any) -> ConcreteFunction:
        graph = Graph()
        names, buffers, params, modules = _module_state(self.python_function)
        tracer = Tracer(graph, self.__name__, names=names, buffers=buffers)
        # train()/eval() and no_grad() decide Python branches: a change traces again
        tracer.guards.append((partial(_modes, modules), _modes(modules)))
        for p in params:
            tracer.remember_grad(p)
        inputs: list[tuple[int, Symbol]] = []
        input_grads: list[tuple[int, Any]] = []
        stand_ins: list[Any] = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, DynamicTensor) and isinstance(array_of(leaf), SymbolicArray):
                raise TracingError(f"'{self.__name__}' was called with a traced tensor "
                                   "outside of its trace")
            if isinstance(leaf, (DynamicTensor, np.ndarray)):
                tracer.device = check_device(tracer.device, leaf, self.__name__)
                placeholder = graph.placeholder(dt.as_dtype(leaf.dtype), tuple(leaf.shape),
                                                f"input_{i}")
                inputs.append((i, placeholder))
                stand_in = tracer.wrap(placeholder)
                if isinstance(leaf, DynamicTensor) and leaf.requires_grad:
                    stand_in.requires_grad_()  # a leaf: backward() gives it a .grad
                    tracer.grad_inputs.append(stand_in)
                    input_grads.append((i, stand_in))
                stand_ins.append(stand_in)
            else:
                stand_ins.append(leaf)
        args, kwargs = nest.pack(template, stand_ins)
        try:
            # ops, optimizer steps and zero_grad() of this thread go to the tracer (only
            # this thread's: others keep running eagerly meanwhile)
            with intercepting(tracer):
                with graph.as_default():
                    result = self.python_function(*args, **kwargs)
                concrete = self._finish(tracer, inputs, result, input_grads)
        finally:
            tracer.restore()
        self.trace_count += 1
        self.concrete_functions.append(concrete)
        if self.warn_after is not None and self.trace_count > self.warn_after and \
                not self._warned:
            self._warned = True
            warnings.warn(
                f"tapeflow.static.function '{self.__name__}' has been traced "
                f"{self.trace_count} times: every new input signature (tensor shapes and "
                "dtypes, other argument values) builds and compiles a new graph, which costs "
                "far more than a call. Pad or bucket inputs to a few shapes, or pass numbers "
                "that change as tensors.", RetracingWarning, stacklevel=4)
        return concrete

    def _finish(self, tracer: Tracer, inputs: list[tuple[int, Symbol]], result: Any,
                input_grads: list[tuple[int, Any]]) -> ConcreteFunction:
        graph = tracer.graph
        fetches: list[Symbol] = []

        def fetch(symbol: Symbol) -> int:
            fetches.append(symbol)
            return len(fetches) - 1

        out_leaves, template = nest.flatten(result)
        results: list[Any] = []
        for leaf in out_leaves:
            if not isinstance(leaf, DynamicTensor):
                results.append(("value", leaf))
                continue
            slot = tracer.slots.get(id(leaf))
            if isinstance(array_of(leaf), SymbolicArray) or (slot is not None and
                                                             slot.variable is None):
                results.append(("fetch", fetch(tracer.symbol(leaf))))
            elif slot is not None or leaf.requires_grad or id(leaf) in tracer.buffers:
                results.append(("value", leaf))  # state (a parameter): the object itself
            else:
                results.append(("copy", leaf))  # made while tracing: a fresh one per call
        writebacks: list[tuple[Any, int]] = []
        grads: list[tuple[Any, int | None]] = []
        with graph.as_default(), graph.role("update"):
            for slot in list(tracer.slots.values()):
                if slot.written:
                    value = (slot.variable.assign(slot.current) if slot.variable is not None
                             else slot.current)
                    writebacks.append((slot.tensor, fetch(value)))
            for tensor, before in tracer.grads_before.values():
                final = tensor.grad
                if isinstance(final, DynamicTensor) and isinstance(array_of(final),
                                                                   SymbolicArray):
                    grads.append((tensor, fetch(tracer.symbol(final))))
                elif final is None and before is not None:
                    grads.append((tensor, None))  # a zero_grad() in the function
        # .grad of inputs that require grad: accumulated into the caller's tensors after a call
        leaf_grads = [(i, fetch(tracer.symbol(t.grad))) for i, t in input_grads
                      if t.grad is not None]
        after = [(None if symbol is None else fetch(symbol), action)
                 for symbol, action in tracer.after]
        state = [s for s in tracer.slots.values() if s.variable is not None]
        with graph.as_default():
            inits = [s.variable.initializer for s in state if s.variable is not None]
            load = group(*inits, name="load") if inits else None
        options = self.options
        if tracer.device == "gpu":  # the model is on the GPU: so is the compiled graph
            options = replace(options or CompileOptions(), device="gpu")
        session = Session(graph=graph, options=options)
        return ConcreteFunction(graph, session, inputs, fetches, template, results, state,
                                writebacks, grads, tracer, load, after, leaf_grads)


def _freeze(template: Any) -> Any:
    if isinstance(template, list):
        return tuple(_freeze(t) for t in template)
    if isinstance(template, tuple):
        return tuple(_freeze(t) for t in template)
    return template


def _leaf_key(leaf: Any) -> Any:
    """What of an argument the trace depends on: shape and dtype of arrays, else the value."""
    if isinstance(leaf, DynamicTensor):
        return ("tensor", tuple(leaf.shape), leaf.dtype.name, leaf.requires_grad)
    if isinstance(leaf, np.ndarray):
        return ("array", leaf.shape, leaf.dtype.str)
    try:
        hash(leaf)
    except TypeError:
        return ("object", id(leaf))
    return (type(leaf), leaf)


def _module_state(fn: Any) -> tuple[dict[int, str], set[int], list[Any], list[Module]]:
    """The modules ``fn`` can reach directly (itself, its ``self``, closure cells and globals
    it names): ``id -> "fc1.weight"`` for their parameters and buffers (readable Variable
    names), and the ids of the buffers (state the graph reads and writes back, where other
    captured tensors are constants)."""
    found: list[tuple[str, Module]] = []
    if isinstance(fn, Module):
        found.append(("", fn))
    owner = getattr(fn, "__self__", None)
    for name, value in (vars(owner).items() if hasattr(owner, "__dict__") else ()):
        if isinstance(value, Module):
            found.append((name, value))
    code = getattr(fn, "__code__", None)
    if code is not None:
        cells = zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False)
        for name, cell in cells:
            value = cell.cell_contents
            if isinstance(value, Module):
                found.append((name, value))
        for name in code.co_names:
            value = getattr(fn, "__globals__", {}).get(name)
            if isinstance(value, Module):
                found.append((name, value))
    names: dict[int, str] = {}
    buffers: set[int] = set()
    params: list[Any] = []
    single = len(found) == 1
    for prefix, module in found:
        for pname, p in [*module.named_parameters(), *module.named_buffers()]:
            names.setdefault(id(p), pname if single or not prefix else f"{prefix}.{pname}")
        buffers.update(id(b) for b in module.buffers())
        params.extend(module.parameters())
    modules = list({id(m): m for _, top in found for m in top.modules()}.values())
    return names, buffers, params, modules


def _modes(modules: list[Module]) -> tuple[bool, ...]:
    """Grad mode and every module's ``training`` flag: Python switches a trace bakes in."""
    return (is_grad_enabled(), *(m.training for m in modules))


def function(fn: Callable[..., Any] | None = None, *, options: CompileOptions | None = None,
             warn_after: int | None = RETRACE_WARNING) -> Any:
    """Compiles a PyTorch-style function into static graphs, one per input signature.

    Usable as ``@function`` or ``@function(options=...)``. Inside, tensors are symbolic:
    ``.item()``, ``bool(t)`` and value-dependent ``if``s raise :class:`TracingError`.
    ``loss.backward()`` and ``optimizer.step()`` (SGD, Adam) become part of the graph.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> import tapeflow.static as tf
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> @tf.function
        ... def step(x, y):
        ...     opt.zero_grad()
        ...     loss = ((model(x) - y) ** 2).mean()
        ...     loss.backward()
        ...     opt.step()
        ...     return loss
        >>> loss = step(torch.ones(4, 2), torch.zeros(4, 1))  # traces, compiles and runs
        >>> loss = step(torch.ones(4, 2), torch.zeros(4, 1))  # runs the compiled plan
        >>> step.trace_count
        1
    """
    if fn is None:
        return lambda f: TracedFunction(f, options=options, warn_after=warn_after)
    return TracedFunction(fn, options=options, warn_after=warn_after)


def trace(module: Any, example_inputs: Any, *, options: CompileOptions | None = None,
          warn_after: int | None = RETRACE_WARNING) -> TracedFunction:
    """``module`` (an ``nn.Module`` or function) traced for ``example_inputs`` right away.

    Returns the traced callable; calling it with other shapes traces again.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> import tapeflow.static as tf
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh())
        >>> traced = tf.trace(net, (torch.zeros(5, 2),))
        >>> traced(torch.ones(5, 2)).shape, traced.trace_count
        (torch.Size([5, 3]), 1)
    """
    example = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    name = type(module).__name__ if isinstance(module, Module) else None
    traced = TracedFunction(module, name=name, options=options, warn_after=warn_after)
    traced.get_concrete_function(*example)
    return traced


__all__ = ["ConcreteFunction", "RetracingWarning", "TracedFunction", "TracingError",
           "function", "trace"]
