"""Fusion: chains of elementwise ops become one ``fused`` node, and kernels become ufuncs.

Two halves, both bit-identical (the same numpy calls in the same order, on the same dtypes):

**The pass** (:func:`fuse`): a chain such as ``add(x @ w, b) -> sigmoid`` (bias and
activation), ``add -> sub`` (a loss's residual) or ``mul(g, lr) -> sub(w, .)`` (an SGD
update) becomes one node of the registry op ``fused`` (``runtime/fused.py``), which runs
each member's own kernel into one output buffer. A member joins the chain of the op
before it when that op's value is read by this member only (not fetched, assigned or
read elsewhere), has the same shape and dtype, and the member's kernel may take its
output buffer as that operand: a plain ufunc may take it as any operand, another kernel
only as input 0 where the registry marks it ``inplace``. The fused node keeps the id,
name and place of the chain's last member, and its attribute ``ops`` names the members
(``add+sigmoid``), which ``Session.plan`` and the drawings show. A chain the executor
could not write as ufunc calls (one with a ``where``, which copies) is left unfused: the
fused op's Python loop over its members would cost more than the members' own calls.

**The expansion** (:func:`ufunc_calls`): the executor asks for the ufunc calls a kernel
makes, to write them into the schedule as lines of their own instead of calling the
kernel. It runs the kernel once on stand-ins that record every ufunc call (``sigmoid`` is
``multiply, tanh, add, multiply``); a kernel that does anything else (allocates, branches
on data, calls a non-ufunc) is left alone. A Python number operand becomes a 0-d array of
the dtype numpy would have converted it to (a weak scalar costs numpy a conversion on
every call), where numpy picks the same loop for both.

Example:
    >>> import numpy as np
    >>> from tapeflow.runtime import Spec, get
    >>> from tapeflow.runtime import dtypes as dt
    >>> spec = Spec((4, 5), dt.float32)
    >>> [c.ufunc.__name__ for c in ufunc_calls(get("sigmoid"), {}, [spec], spec)]
    ['multiply', 'tanh', 'add', 'multiply']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view
from ...runtime import OpDef, Spec, get
from ...runtime.fused import PREVIOUS
from .lowering import concrete

# ---- the pass -------------------------------------------------------------------------------


def _fusable(n: Node) -> bool:
    return (n.kind == "call" and n.opdef.kind == "elementwise" and n.op != "fused"
            and not is_view(n) and concrete(n.shape))


def _may_write_over(consumer: Node, positions: list[int]) -> bool:
    """Whether ``consumer``'s kernel may take its own output buffer as these operands."""
    op = consumer.opdef
    if op.ufunc is not None and op.kernel is not None \
            and not any(consumer.attrs.get(a) for a in op.ufunc_unless):
        return True  # a ufunc reads each element before it writes it, even fully aliased
    return positions == [0] and op.inplace


#: at most this many calls of other work may run between a chain's first and last member.
#: The fused node runs where its last member did, so every member's operands stay alive
#: until then: a chain spread over the schedule (a gradient summed over all the steps of an
#: unrolled loop, one term made per step) would keep all its terms alive at once.
FOREIGN_CALLS = 4


def _foreign(between: tuple[Node, ...], consumer: Node) -> int:
    """Calls scheduled between a chain's tail and ``consumer`` that do not make one of
    ``consumer``'s operands (a matmul making the other addend is part of the chain's work)."""
    return sum(b.kind == "call" and b.id not in consumer.inputs for b in between)


def readers_of(graph: Graph) -> dict[int, int]:
    """How many times each value is read: by calls, assigns, and as an output."""
    count: dict[int, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            count[i] = count.get(i, 0) + 1
    for o in graph.outputs:
        count[o] = count.get(o, 0) + 1
    return count


def _chains(graph: Graph) -> dict[int, list[Node]]:
    """Chain tail id -> its members in order, for every chain of at least two."""
    readers = readers_of(graph)
    by_id = {n.id: n for n in graph.nodes}
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    # tail id -> (members, calls scheduled among them that are not theirs), for open chains
    chain_of: dict[int, tuple[list[Node], int]] = {}
    for k, n in enumerate(graph.nodes):
        if not _fusable(n):
            continue
        chain, foreign = [n], 0
        for i in dict.fromkeys(n.inputs):
            p = by_id[i]
            positions = [j for j, x in enumerate(n.inputs) if x == i]
            if not (i in chain_of and readers[i] == len(positions)
                    and (p.shape, p.dtype) == (n.shape, n.dtype)
                    and _may_write_over(n, positions)):
                continue
            members, before = chain_of[i]
            between = _foreign(graph.nodes[position[i] + 1:k], n)
            if before + between <= FOREIGN_CALLS:
                del chain_of[i]
                members.append(n)  # the list is this chain's alone now: no copy (O(n) chains)
                chain, foreign = members, before + between
                break
        chain_of[n.id] = (chain, foreign)
    return {tail: members for tail, (members, _) in chain_of.items() if len(members) > 1}


def _fused_node(members: list[Node]) -> Node:
    """One ``fused`` node for a chain: the last member's id, name and place."""
    inputs: list[int] = []
    steps = []
    previous = None
    for m in members:
        refs = []
        for i in m.inputs:
            if i == previous:
                refs.append(PREVIOUS)
                continue
            if i not in inputs:
                inputs.append(i)
            refs.append(inputs.index(i))
        steps.append((m.op, tuple(refs), tuple(sorted(m.attrs.items()))))
        previous = m.id
    tail = members[-1]
    ops = "+".join(m.op for m in members)
    return tail.with_(op="fused", inputs=tuple(inputs), attrs={"ops": ops, "steps": tuple(steps)})


def _expands(fused: Node, by_id: dict[int, Node]) -> bool:
    """Whether the executor can write a fused node as its ufunc calls. One it cannot runs
    its members' kernels from runtime/fused.py's Python loop, which costs more than calling
    them unfused (a where+add in a loop's reverse step: 3.8 against 1.8 us), so such a
    chain is left as it was."""
    inputs = [Spec(by_id[i].shape, by_id[i].dtype) for i in fused.inputs]
    return ufunc_calls(get("fused"), dict(fused.attrs), inputs,
                       Spec(fused.shape, fused.dtype)) is not None


def fuse(graph: Graph) -> tuple[Graph, bool]:
    """Chains of elementwise ops fused into one ``fused`` node each (see the module doc)."""
    chains = _chains(graph)
    by_id = {n.id: n for n in graph.nodes}
    made = {tail: _fused_node(members) for tail, members in chains.items()}
    made = {tail: node for tail, node in made.items() if _expands(node, by_id)}
    if not made:
        return graph, False
    absorbed = {m.id for tail in made for m in chains[tail][:-1]}
    nodes = [made.get(n.id, n) for n in graph.nodes if n.id not in absorbed]
    return Graph(tuple(nodes), graph.outputs), True


# ---- the expansion: a kernel's ufunc calls ------------------------------------------------


class _Untraceable(Exception):
    """The kernel did something other than ufunc calls into given buffers."""


class _Operand:
    """A stand-in for one array a kernel receives: its shape and dtype, nothing else."""

    __array_priority__ = 1000

    def __init__(self, index: int, spec: Spec, recorder: _Recorder) -> None:
        self.index = index
        self.shape = tuple(spec.shape)  # type: ignore[arg-type]
        self.ndim = len(self.shape)
        self.dtype = spec.dtype.np
        self._recorder = recorder

    def _inplace(self, ufunc: np.ufunc, other: Any) -> _Operand:
        return self._recorder.record(ufunc, (self, other), self)

    def __iadd__(self, other: Any) -> _Operand:
        return self._inplace(np.add, other)

    def __isub__(self, other: Any) -> _Operand:
        return self._inplace(np.subtract, other)

    def __imul__(self, other: Any) -> _Operand:
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other: Any) -> _Operand:
        return self._inplace(np.true_divide, other)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _Untraceable("read as data")

    def __array_ufunc__(self, *args: Any, **kwargs: Any) -> Any:
        raise _Untraceable("a ufunc outside xp")

    def __bool__(self) -> bool:
        raise _Untraceable("branches on data")


@dataclass(frozen=True)
class UfuncCall:
    """``ufunc(*operands, out)``: an operand is an int (the kernel's input of that index;
    the output is index ``len(inputs)``) or an array constant."""

    ufunc: np.ufunc
    operands: tuple[Any, ...]
    out: int


class _Recorder:
    """The ``xp`` a traced kernel sees: its ufuncs record, anything else is refused."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ufunc, tuple[Any, ...], _Operand]] = []

    def __getattr__(self, name: str) -> Any:
        fn = getattr(np, name, None)
        if not isinstance(fn, np.ufunc) or fn.nout != 1:
            raise _Untraceable(f"xp.{name} is not a one-output ufunc")

        def call(*args: Any, out: Any = None, **kwargs: Any) -> Any:
            if out is None and len(args) == fn.nin + 1:
                *args, out = args  # type: ignore[assignment]
            if kwargs or len(args) != fn.nin:
                raise _Untraceable(f"{name} with {sorted(kwargs)}")
            return self.record(fn, tuple(args), out)

        return call

    def record(self, ufunc: np.ufunc, args: tuple[Any, ...], out: Any) -> _Operand:
        if not isinstance(out, _Operand):
            raise _Untraceable(f"{ufunc.__name__} allocates its result")
        for a in args:
            if not isinstance(a, (_Operand, int, float, np.generic)) or isinstance(a, complex):
                raise _Untraceable(f"{ufunc.__name__} of a {type(a).__name__}")
        self.calls.append((ufunc, args, out))
        return out


#: ufuncs for which numpy 2.4 deprecates an ``out`` given positionally
_KEYWORD_OUT = frozenset({"maximum", "minimum"})


def positional_out(ufunc: Any, nin: int) -> bool:
    """Whether ``ufunc(*inputs, out)`` may take ``out`` positionally, which saves numpy
    parsing a keyword on every call."""
    return getattr(ufunc, "nin", None) == nin and ufunc.__name__ not in _KEYWORD_OUT


def ufunc_calls(op: OpDef, attrs: dict[str, Any], inputs: list[Spec], output: Spec
                ) -> list[UfuncCall] | None:
    """The ufunc calls ``op``'s kernel makes with ``out=`` given, or None if it makes other
    calls too (then only the kernel itself computes what it computes)."""
    recorder = _Recorder()
    operands = [_Operand(k, s, recorder) for k, s in enumerate(inputs)]
    out = _Operand(len(inputs), output, recorder)
    try:
        result = op.kernel(recorder, *operands, out=out, **attrs)
    except _Untraceable:
        return None
    except Exception:  # noqa: BLE001 - any other failure: the kernel runs as it is
        return None
    if result is not out or not recorder.calls:
        return None
    return [UfuncCall(ufunc, tuple(_typed(ufunc, args, k, target) for k in range(len(args))),
                      target.index)
            for ufunc, args, target in recorder.calls]


def _typed(ufunc: np.ufunc, args: tuple[Any, ...], k: int, out: _Operand) -> Any:
    """Operand ``k`` of a recorded call: an input index, or a constant; a Python number
    becomes a 0-d array of the dtype numpy converts it to, when numpy then picks the very
    same loop (so the call computes the same bits without converting it every time)."""
    a = args[k]
    if isinstance(a, _Operand):
        return a.index
    if isinstance(a, bool):
        return a  # (kept as it is: no saving worth a rule of its own)
    if not isinstance(a, (int, float)):
        return np.asarray(a)  # a numpy scalar: typed already, as a 0-d array is
    weak = [x.dtype if isinstance(x, _Operand) else type(x) if isinstance(x, (int, float))
            else np.asarray(x).dtype for x in args]
    try:
        loop = ufunc.resolve_dtypes((*weak, out.dtype))
        strong = list(weak)
        strong[k] = loop[k]
        value = np.asarray(a, dtype=loop[k])
        if ufunc.resolve_dtypes((*strong, out.dtype)) == loop and value == a:
            return value
    except (TypeError, ValueError, OverflowError):
        pass
    return a
