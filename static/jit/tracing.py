"""Tracing: running PyTorch-style code on symbolic stand-ins to record a static graph.

While a :class:`Tracer` is this thread's interceptor (``dynamic.interop.intercepting``),
every op that the dynamic front end runs on a traced tensor (or on state: a parameter, a
tensor written in place) becomes a node of a ``static.Graph`` instead of a kernel call.
The tensors the user's code sees are ordinary dynamic Tensors whose array is a
:class:`SymbolicArray`: it knows its shape and dtype (so shape checks, ``x.shape[0]``,
``view`` and ``unbind`` work) but has no values, so ``.item()``, ``bool(t)``,
``if t > 0:`` and ``t.numpy()`` raise :class:`TracingError`. ``loss.backward()`` becomes
``static.gradients`` (the same registry rules), ``optimizer.step()`` becomes update nodes
(``traced_optim.py``), and in-place writes to parameters become the new values of state
slots that the compiled function writes back after each call. Only the tracing thread is
affected: an interceptor is per thread, so other threads keep running eagerly meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ...dynamic import dispatch, interop
from ...dynamic.grad_mode import is_grad_enabled
from ...dynamic.interop import array_of
from ...dynamic.tensor import Tensor as DynamicTensor
from ...runtime import OpDef, get
from ...runtime import dtypes as dt
from ...runtime.backend import device_of, to_device
from ..gradients import gradients
from ..graph import Graph
from ..tensor import Tensor as Symbol
from ..variables import Variable
from .symbolic import SymbolicArray, TracedNode, TracedTensor, TracingError, escaped


def check_device(device: str | None, tensor: Any, function: str) -> str | None:
    """The device a traced graph runs on: that of every concrete tensor it reads ("cpu" or
    "gpu"; None while it has read none). A tensor on another device is an error."""
    array = array_of(tensor) if isinstance(tensor, DynamicTensor) else tensor
    if isinstance(array, SymbolicArray):
        return device
    here = device_of(array)
    if device is not None and here != device:
        raise RuntimeError(
            f"tapeflow.static.function '{function}' reads tensors on two devices ({device} and "
            f"{here}); move the model and its inputs to one device with .to(...)")
    return here


@dataclass
class Slot:
    """A concrete tensor the graph reads as state (a Variable) or writes in place.

    ``current`` is its value at this point of the trace, ``leaf`` the value gradients are taken
    with respect to (its value after the last in-place update: a new leaf, as in eager mode).
    """

    tensor: Any
    variable: Variable | None
    load: Symbol | None  # the placeholder that (re)loads the variable from the eager tensor
    current: Symbol
    leaf: Symbol
    written: bool = False


@dataclass
class Tracer:
    """Turns the dynamic front end's ops into nodes of ``graph`` while a function is traced."""

    graph: Graph
    name: str
    names: dict[int, str] = field(default_factory=dict)  # id(parameter) -> "fc1.weight"
    buffers: set[int] = field(default_factory=set)  # ids of module buffers: state, not constants
    grad_inputs: list[TracedTensor] = field(default_factory=list)  # inputs that require grad
    slots: dict[int, Slot] = field(default_factory=dict)
    constants: dict[int, Symbol] = field(default_factory=dict)
    keep: list[Any] = field(default_factory=list)  # keeps ids of captured tensors stable
    stops: list[Symbol] = field(default_factory=list)  # values recorded without grad tracking
    #: id -> (tensor, its .grad when the trace started), for every parameter the trace met
    grads_before: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    cleared: set[int] = field(default_factory=set)  # parameters a zero_grad() call cleared
    #: Python numbers computed anew before every call (Adam's bias corrections), fed in
    feeds: list[tuple[Symbol, Callable[[], Any]]] = field(default_factory=list)
    #: (read, value at trace time): the trace is reused only while each read gives the value
    guards: list[tuple[Callable[[], Any], Any]] = field(default_factory=list)
    #: run after every call with the value of the symbol (None: no value), in order
    after: list[tuple[Symbol | None, Callable[[Any], None]]] = field(default_factory=list)
    device: str | None = None  # where the concrete tensors it reads live (check_device)

    # ---- values in and out -----------------------------------------------------------------

    def wrap(self, symbol: Symbol, requires_grad: bool = False, op: str = "") -> TracedTensor:
        grad_fn = TracedNode(op) if requires_grad else None
        t: TracedTensor = interop.wrap(SymbolicArray(symbol, self), requires_grad, grad_fn,
                                       TracedTensor)  # type: ignore[assignment]
        return t

    def node(self, op: str | OpDef, inputs: Sequence[Any], attrs: dict[str, Any] | None = None
             ) -> Symbol:
        opdef = get(op) if isinstance(op, str) else op
        return self.graph.apply(opdef, list(inputs), dict(attrs or {}))

    def _own(self, array: SymbolicArray) -> Symbol:
        if array.tracer is not self:
            raise escaped(array.tracer.name)
        return array.symbol

    def is_involved(self, value: Any) -> bool:
        """Whether an op on ``value`` must be traced (not run now and folded to a constant)."""
        if not isinstance(value, DynamicTensor):
            return False
        return (isinstance(array_of(value), SymbolicArray) or id(value) in self.slots
                or value.requires_grad or id(value) in self.buffers)

    def symbol(self, value: Any) -> Any:
        """``value`` as an input of a graph node (Python scalars stay scalars)."""
        if isinstance(value, DynamicTensor):
            array = array_of(value)
            if isinstance(array, SymbolicArray):
                return self._own(array)
            slot = self.slots.get(id(value))
            if slot is not None:
                return slot.current
            if value.requires_grad or id(value) in self.buffers:  # state, read every call
                return self.state(value).current
            return self._constant(value, array)
        if isinstance(value, np.generic):
            return value.item()  # a weak Python scalar, as in eager mode
        if isinstance(value, np.ndarray):
            return self._constant(value, value)
        return value

    def _constant(self, owner: Any, array: Any) -> Symbol:
        known = self.constants.get(id(owner))
        if known is None:
            # a tensor captured by value: its value now is baked into the graph
            known = self.graph.constant(np.array(to_device(array, "cpu"), copy=True),
                                        name="captured")  # (on the host: the graph's consts)
            self.constants[id(owner)] = known
            self.keep.append(owner)
        return known

    def state(self, tensor: Any) -> Slot:
        """The slot of a concrete tensor read as a Variable (loaded from it before a call)."""
        slot = self.slots.get(id(tensor))
        if slot is not None:
            return slot
        self.device = check_device(self.device, tensor, self.name)
        name = self.names.get(id(tensor), "state")
        shape = tuple(int(d) for d in tensor.shape)
        with self.graph.as_default(), self.graph.name_scope(None):
            load = self.graph.placeholder(tensor.dtype, shape, f"load/{name}")
            variable = Variable(load, name=name, trainable=tensor.requires_grad)
        slot = Slot(tensor, variable, load, variable, variable)
        self.slots[id(tensor)] = slot
        self.keep.append(tensor)
        self.remember_grad(tensor)
        return slot

    # ---- the dispatch hooks ----------------------------------------------------------------

    def apply(self, op: OpDef, args: tuple[Any, ...], attrs: dict[str, Any],
              label: str | None) -> Any:
        if op.kind != "random" and not any(self.is_involved(a) for a in args):
            return NotImplemented  # only constants: run it now, the result is a constant
        symbol = self.node(op, [self.symbol(a) for a in args], attrs)
        wants = any(isinstance(a, DynamicTensor) and a.requires_grad for a in args)
        requires = (wants and is_grad_enabled() and op.differentiable
                    and symbol.dtype.is_floating)
        if wants and not requires:
            self.stops.append(symbol)  # no_grad or a non-differentiable op: gradients stop
        out = self.wrap(symbol, requires, op.name)
        src = args[0] if args else None
        if op.view and isinstance(src, DynamicTensor) and \
                isinstance(array_of(src), SymbolicArray):
            # remember where a view came from, so an in-place change of it reaches its base
            base = interop.base_of(src)
            index = attrs["index"] if base is None and op.name == "getitem" else None
            interop.mark_view(out, src if base is None else base, index)
        return out

    def apply_(self, op: OpDef, target: Any, args: tuple[Any, ...], attrs: dict[str, Any],
               label: str | None) -> Any:
        dispatch.check_inplace(target)
        base = interop.base_of(target)
        index = interop.view_index(target)
        if base is not None and (index is None or
                                 not isinstance(array_of(base), SymbolicArray)):
            raise TracingError(
                f"{op.name}_: this in-place change of a view cannot be traced into a static "
                f"graph ('{self.name}'): the graph has no aliasing, and only a view made by "
                "indexing a traced tensor (x[i] += 1) is written back to the tensor it came "
                "from. Use the out-of-place form and keep the result.")
        old = self.symbol(target)
        symbol = self.node(op, [old, *(self.symbol(a) for a in args)], attrs)
        want = dt.as_dtype(target.dtype)
        if tuple(symbol.spec.shape or ()) != tuple(target.shape):
            raise dispatch.TensorShapeError(
                f"output with shape {list(target.shape)} doesn't match the broadcast shape "
                f"{list(symbol.spec.shape or ())}")
        if symbol.dtype is not want:
            if symbol.dtype.category > want.category:
                raise RuntimeError(f"result type {symbol.dtype.name.capitalize()} can't be cast "
                                   f"to the desired output type {want.name.capitalize()}")
            symbol = self.node("cast", [symbol], {"dtype": want})
        grad_on = is_grad_enabled()
        requires = (grad_on and op.differentiable and want.is_floating and any(
            isinstance(a, DynamicTensor) and a.requires_grad for a in (target, *args)))
        if isinstance(array_of(target), SymbolicArray):
            self._rebind(target, symbol, requires, op.name)
            if base is not None:  # x[i] += 1: the new rows go into the base as well
                merged = self.node("index_assign", [self.symbol(base), symbol], {"index": index})
                self._rebind(base, merged, grad_on and (requires or base.requires_grad),
                             "index_assign")
            return target
        slot = self.slots.get(id(target))
        if slot is None:
            if id(target) in self.constants:  # read as a constant before: local scratch
                slot = Slot(target, None, None, old, old)
                self.slots[id(target)] = slot
                self.keep.append(target)
            else:
                slot = self.state(target)
        slot.current = slot.leaf = symbol  # updated outside autograd: a new leaf
        slot.written = True
        if target.requires_grad:
            self.stops.append(symbol)
        return target

    def _rebind(self, target: Any, symbol: Symbol, requires: bool, op: str) -> None:
        """A traced tensor changed in place: from now on it stands for ``symbol``."""
        # (a concrete target's counter moves when a call writes it back)
        interop.rebind(target, SymbolicArray(symbol, self), TracedNode(op) if requires else None)
        if not requires and target.requires_grad:
            self.stops.append(symbol)

    def step(self, optimizer: Any, closure: Any = None) -> None:
        """``optimizer.step()`` in this thread: update nodes (``traced_optim.traced_step``)."""
        from .traced_optim import traced_step  # the rules build on this module

        traced_step(self, optimizer, closure)

    def zero_grad(self, params: list[Any]) -> None:
        """``zero_grad()`` clears these ``.grad``: the graph does not read them on entry."""
        for p in params:
            self.remember_grad(p)
            self.cleared.add(id(p))

    # ---- autograd --------------------------------------------------------------------------

    def backward(self, loss: TracedTensor, gradient: Any) -> None:
        """``loss.backward()``: ``static.gradients`` into every parameter's ``.grad``."""
        if not loss.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn")
        if gradient is None and loss.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        # leaves: parameters (their value since the last update) and inputs that require grad
        leaves = [(s.tensor, s.leaf) for s in self.slots.values() if s.tensor.requires_grad]
        leaves += [(t, t.symbol) for t in self.grad_inputs]
        if not leaves:
            return
        seed = None if gradient is None else [self.symbol(gradient)]
        grads = gradients([loss.symbol], [leaf for _, leaf in leaves], grad_ys=seed,
                          stop_gradients=self.stops or None)
        for (holder, _), grad in zip(leaves, grads, strict=True):
            if grad is None:
                continue
            before = holder.grad
            if before is None and id(holder) in self.grads_before and \
                    id(holder) not in self.cleared and self.grads_before[id(holder)][1] is None:
                # the graph assumes this .grad is None on entry (no zero_grad() cleared it
                # here): a call that finds one (eager mode would accumulate) traces again
                self.guards.append((partial(_grad_is_none, holder), True))
            if before is not None:
                if not self.is_involved(before):
                    raise TracingError(
                        f"'{self.name}': {self.names.get(id(holder), 'a parameter')} "
                        "already holds a .grad from before this traced call, and a compiled "
                        "function cannot carry gradients from one call into the next. Call "
                        "optimizer.zero_grad() inside the traced function, before backward().")
                grad = self.node("add", [self.symbol(before), grad])
            holder.grad = self.wrap(grad)

    def grad_symbol(self, param: Any) -> Symbol | None:
        """The symbolic ``param.grad`` (None when there is none), for the optimizer rules."""
        grad = param.grad
        if grad is None:
            return None
        if not self.is_involved(grad) and id(grad) not in self.constants:
            raise TracingError(
                f"'{self.name}': optimizer.step() found a .grad computed before this traced "
                "call; call loss.backward() inside the traced function.")
        symbol: Symbol = self.symbol(grad)
        return symbol

    def write(self, tensor: Any, value: Symbol) -> None:
        """An optimizer rule's in-place update of ``tensor`` (a parameter or a state buffer)."""
        slot = self.state(tensor)
        slot.current = slot.leaf = value
        slot.written = True

    def remember_grad(self, tensor: Any) -> None:
        """Notes ``tensor.grad`` as it was when the trace started (the first time it is met)."""
        self.grads_before.setdefault(id(tensor), (tensor, tensor.grad))

    def restore(self) -> None:
        """Puts back what tracing changed on eager tensors (their ``.grad``)."""
        for tensor, grad in self.grads_before.values():
            tensor.grad = grad


def _grad_is_none(tensor: Any) -> bool:
    return tensor.grad is None


__all__ = ["Slot", "Tracer", "TracingError", "check_device"]
