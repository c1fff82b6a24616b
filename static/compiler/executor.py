"""The executor: a flat schedule of kernel calls writing into preallocated arena views.

Everything is bound once, at compile time, and the schedule becomes straight-line Python
(as torch.fx generates code for a graph): one line per kernel call, for example ::

    r = k12(xp, c10, v3, out=c12)          # matmul into its arena view c12
    if r is not c12: copyto(c12, r)        # a kernel that ignored out= (arange, eye)

with no dict lookups, no shape inference and no dtype promotion on the hot path. Names
``c<id>`` are fixed arrays bound when compiling: consts, arena views (fixed addresses in
the one arena) and views of those (a reshape of an arena buffer is computed once).
Names ``v<id>`` are values that change from run to run: feeds, variables, fresh arrays for
fetched and assigned values, views of those, and values of data-dependent size.
``print(executor.source)`` shows the whole program.

Fetched values come back as arrays that no later run overwrites: a fetched (or assigned)
call writes straight into an array allocated for this run; anything else fetched (a view,
a feed, a variable, a const) is copied out at the end.

Example:
    >>> # ex = Executor(graph, plan_memory(graph)); values, updates = ex.run(feeds, variables)
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view
from ...runtime import Arena, Spec, xp_for
from ..errors import InvalidArgumentError
from .blas_calls import library_line
from .fusion import positional_out, ufunc_calls
from .gemm_rows import over_views
from .lowering import concrete
from .planner import Plan
from .wrappers import on_device, returns_array, returns_own_array

_counter = itertools.count()


class ExecutionError(InvalidArgumentError):
    """A kernel failed at run time; names the node, its op and the user's source line."""


class MissingFeedError(InvalidArgumentError):
    """A placeholder (or variable) that the run reads was not given a value."""


class Executor:
    """Runs one compiled graph: ``run(feeds, variables) -> (fetched values, updates)``.

    With a ``plan``, every arena buffer is a view of one :class:`~tapeflow.runtime.Arena`;
    without one, every call writes into an array of its own, allocated each run (the
    "naive" memory model, for comparison). The same kernels run either way, with ``out=``,
    so both give bit-identical results.
    """

    def __init__(self, graph: Graph, plan: Plan | None = None, device: str = "cpu",
                 slots: Mapping[int, tuple[int, tuple[Any, ...]]] | None = None) -> None:
        self.graph = graph
        self.plan = plan
        # operand id -> (stack id, index): the operand is written into that slice of the
        # stack's buffer (inplace.stack_in_place); needs a plan
        self.slots = dict(slots or {}) if plan is not None else {}
        self._hosts = {stack for stack, _ in self.slots.values()}
        self._host_arrays: dict[int, Any] = {}
        self.device = device
        self.xp = xp = xp_for(device)
        self.arena = Arena(plan.arena_bytes, device) if plan is not None else None
        self.steps: list[Node] = []  # the call nodes that run, in order
        self._gemm = plan.providers if plan is not None and device == "cpu" else {}
        self._lock = threading.Lock()
        self._ns: dict[str, Any] = {"copyto": xp.copyto, "empty": xp.empty, "xp": xp,
                                    "lock": self._lock, "error": self._error,
                                    "copy": lambda a: xp.array(a, copy=True),
                                    "asarray": xp.asarray}
        self._fixed: dict[int, Any] = {}
        # calls the plan writes over a row of a block (gemm_rows.py), not a buffer's start
        self._over_views = over_views(plan, graph)
        self._fresh: set[int] = set()
        self._prologue: list[str] = []
        self._body: list[str] = []
        self._line_node: dict[int, Node] = {}  # body line -> the node it runs
        read = {i for n in graph.nodes if n.kind == "call" for i in n.inputs}
        read.update(o for o in graph.outputs if graph[o].kind != "assign")
        read.update(n.inputs[1] for n in graph.nodes if n.kind == "assign")
        for n in graph.nodes:
            if n.kind == "const":
                self._fix(n.id, xp.asarray(n.value))
            elif n.kind in ("placeholder", "variable") and n.id in read:
                # (a variable that is only assigned, as by an initialiser, is not read)
                table = "feeds" if n.kind == "placeholder" else "variables"
                load = f"{table}[{n.id}]"
                self._line(n, f"v{n.id} = {load if device == 'cpu' else f'asarray({load})'}",
                           self._prologue)
            elif n.kind == "call":
                self._bind_call(n)
        self.source = self._generate()
        filename = f"<tapeflow schedule {next(_counter)}>"
        exec(compile(self.source, filename, "exec"), self._ns)  # noqa: S102 - our own code
        self._filename = filename
        self._fn = self._ns["schedule"]
        self.run = self._fn  # type: ignore[method-assign]  (the method's frame skipped)

    # ---- binding ---------------------------------------------------------------------

    def _fix(self, nid: int, array: Any) -> None:
        self._fixed[nid] = array
        self._ns[f"c{nid}"] = array

    def _ref(self, nid: int) -> str:
        node = self.graph[nid]
        if node.kind == "assign":
            # an op reading an assign reads the value assigned (TF1: the new value); that
            # value lives outside the arena, to the end of the run (liveness, planner)
            return self._ref(node.inputs[1])
        return f"c{nid}" if nid in self._fixed else f"v{nid}"

    def _line(self, n: Node, text: str, where: list[str] | None = None) -> None:
        where = self._body if where is None else where
        if where is self._body:
            self._line_node[len(self._body)] = n
        where.append(text)

    def _host(self, stack: Node) -> Any:
        """The arena array of a stack whose operands write into its slices."""
        if stack.id not in self._host_arrays:
            assert self.plan is not None and self.arena is not None
            offset = self.plan.offsets[self.plan.buffer_of[stack.id]]
            self._host_arrays[stack.id] = self.arena.view(offset, stack.shape,  # type: ignore[arg-type]
                                                          stack.dtype)
        return self._host_arrays[stack.id]

    def _bind_host(self, n: Node) -> None:
        # the operands written in place are there already; copy in the others
        host = self._host(n)
        self._fix(n.id, host)
        for t, x in enumerate(n.inputs):
            if self.slots.get(x, (None,))[0] == n.id:
                continue
            axis = int(n.attrs.get("axis", 0)) % host.ndim
            name = f"c{n.id}_{t}"
            self._ns[name] = host[(slice(None),) * axis + (t, Ellipsis)]
            self._line(n, f"copyto({name}, {self._ref(x)})")

    def _bind_call(self, n: Node) -> None:
        if n.id in self._hosts:
            self._bind_host(n)
            return
        kernel = n.opdef.kernel
        if n.opdef.kind == "random" and self.device != "cpu":
            kernel = on_device(kernel, self.device)  # its result is copied into out
        args = self._args(n)
        for key, value in n.attrs.items():
            self._ns[f"a{n.id}_{key}"] = value
        self.steps.append(n)
        if is_view(n):
            self._bind_view(n, kernel, args)
            return
        out = self._output(n)
        library = None if out is None else library_line(self._ns, n, self.graph, args, out,
                                                        self._gemm)
        if library is not None:  # a GEMM library's call (compiler/autotune.py, blas_calls.py)
            self._line(n, library)
        elif n.opdef.kind == "control":  # a while or cond: its value is a tuple of new arrays
            self._ns[f"k{n.id}"] = kernel
            self._line(n, f"v{n.id} = k{n.id}({_call_args(n, args)})")
        elif out is None:
            # size known only at run time (a boolean mask): the kernel allocates
            self._ns[f"k{n.id}"] = returns_own_array(kernel)
            self._line(n, f"v{n.id} = k{n.id}({_call_args(n, args)})")
        elif not (self._bind_ufunc(n, kernel, args, out)
                  or self._bind_expanded(n, kernel, args, out)
                  or self._bind_reduce(n, kernel, args, out)):
            self._ns[f"k{n.id}"] = kernel
            self._line(n, f"r = k{n.id}({_call_args(n, args)}, out={out})")
            self._line(n, f"if r is not {out}: copyto({out}, r)")  # a kernel that ignored out=

    def _args(self, n: Node) -> list[str]:
        """The names the call reads: fixed or per-run values, or shape-only stand-ins."""
        args = []
        for k, i in enumerate(n.inputs):
            x = self.graph[i]
            if i not in self._fixed and k in n.opdef.shape_only and concrete(x.shape):
                # only its shape is read: a zero-byte stand-in of that shape
                args.append(f"s{n.id}_{k}")
                self._ns[args[-1]] = self.xp.broadcast_to(self.xp.empty((), x.dtype.np),
                                                          x.shape)
            else:
                args.append(self._ref(i))
        return args

    def _bind_view(self, n: Node, kernel: Any, args: list[str]) -> None:
        """A view: fixed once when it views fixed arrays, else one call per run."""
        xp, op = self.xp, n.opdef
        if all(a[0] in "cs" for a in args):
            values = [self._ns[a] for a in args]
            result = kernel(xp, *values, **n.attrs)
            # a view of a fixed array is itself fixed -- unless the kernel had to copy
            if getattr(result, "size", 0) and xp.may_share_memory(result, values[0]):
                self._fix(n.id, result)
                self.steps.pop()
                return
        method = op.method
        if method is not None and kernel is op.kernel and n.shape != () and len(n.attrs) == 1:
            # the registry says the kernel is exactly x.<method>(attr): skip the wrappers
            (key, value), = n.attrs.items()
            self._ns[f"a{n.id}_{key}"] = tuple(value) if isinstance(value, list) else value
            self._ns[f"u{n.id}"] = getattr(xp.ndarray, method)
            self._line(n, f"v{n.id} = u{n.id}({args[0]}, a{n.id}_{key})")
            return
        self._ns[f"k{n.id}"] = returns_array(kernel) if n.shape == () else kernel
        self._line(n, f"v{n.id} = k{n.id}({_call_args(n, args)})")

    def _output(self, n: Node) -> str | None:
        """Where a non-view call writes: its stack slice, its arena view, or an array of its
        own each run; None when its size is known only at run time."""
        plan = self.plan
        if n.id in self.slots:
            stack, index = self.slots[n.id]
            self._fix(n.id, self._host(self.graph[stack])[index])  # its slice of the stack
        elif n.id in self._over_views:  # in place over a row of a block (gemm_rows.py)
            assert n.inputs[0] in self._fixed, "a row of an arena buffer is a fixed view"
            self._fix(n.id, self._fixed[n.inputs[0]])
        elif plan is not None and n.id in plan.buffer_of:
            assert self.arena is not None
            b = plan.buffer_of[n.id]
            self._fix(n.id, self.arena.view(plan.offsets[b], n.shape, n.dtype))  # type: ignore[arg-type]
        elif concrete(n.shape):
            # an array of its own each run: fetched/assigned values, or no plan at all
            self._fresh.add(n.id)
            self._ns[f"S{n.id}"], self._ns[f"D{n.id}"] = tuple(n.shape), n.dtype.np  # type: ignore[arg-type]
            self._prologue.append(f"v{n.id} = empty(S{n.id}, D{n.id})")
        else:
            return None
        return self._ref(n.id)

    def _bind_ufunc(self, n: Node, kernel: Any, args: list[str], out: str) -> bool:
        # the registry says this kernel is exactly xp.<ufunc>: call it without the wrapper
        op = n.opdef
        ufunc = op.ufunc
        if any(n.attrs.get(a) for a in op.ufunc_unless):
            ufunc = None  # (matmul with a transpose flag does more than xp.matmul)
        if ufunc is None or kernel is not op.kernel:
            return False
        fn = self._ns[f"u{n.id}"] = getattr(self.xp, ufunc)
        sources = [(x.shape, x.dtype.np) for x in (self.graph[i] for i in n.inputs)]
        if self._allocates(n, fn, sources):
            self._line(n, f"{out} = u{n.id}({', '.join(args)}, order='C')")
            return True
        where = out if positional_out(fn, len(args)) else f"out={out}"
        self._line(n, f"u{n.id}({', '.join(args)}, {where})")
        return True

    def _allocates(self, n: Node, ufunc: Any, operands: list[tuple[Any, Any]]) -> bool:
        """Whether the array made for this run for ``n`` can be the result of ``ufunc`` called
        without ``out=``: numpy allocates exactly that shape and dtype (row-major, as
        ``empty`` would: ``order='C'``), and one allocation less runs (its ``empty`` line
        leaves the prologue)."""
        if n.id not in self._fresh or n.shape == () or self.device != "cpu" \
                or getattr(ufunc, "signature", "gufunc") is not None:
            return False  # (numpy hands back a scalar for a 0-d result)
        try:
            natural = ufunc.resolve_dtypes((*(d for _, d in operands), None))[-1]
            shape = np.broadcast_shapes(*(s for s, _ in operands))
        except (TypeError, ValueError):
            return False
        if natural != n.dtype.np or shape != tuple(n.shape):  # type: ignore[arg-type]
            return False
        self._prologue.remove(f"v{n.id} = empty(S{n.id}, D{n.id})")
        return True

    def _bind_expanded(self, n: Node, kernel: Any, args: list[str], out: str) -> bool:
        # an elementwise kernel (sigmoid, a fused chain) that only calls ufuncs into given
        # buffers: those calls, written out as lines of the schedule (compiler/fusion.py)
        op = n.opdef
        sources = [self.graph[i] for i in n.inputs]
        if (op.kind != "elementwise" or kernel is not op.kernel or self.device != "cpu"
                or not all(concrete(x.shape) for x in sources)):
            return False
        calls = ufunc_calls(op, dict(n.attrs), [Spec(x.shape, x.dtype) for x in sources],
                            Spec(n.shape, n.dtype))
        if calls is None:
            return False
        names = [*args, out]
        specs = [(x.shape, x.dtype.np) for x in sources] + [(n.shape, n.dtype.np)]
        for j, call in enumerate(calls):
            operands, kinds = [], []
            for k, a in enumerate(call.operands):
                if isinstance(a, int):
                    operands.append(names[a])
                    kinds.append(specs[a])
                else:  # a constant operand (a Python number stays one)
                    operands.append(f"q{n.id}_{j}_{k}")
                    self._ns[operands[-1]] = a
                    kinds.append((np.shape(a), getattr(a, "dtype", type(a))))
            fn = self._ns[f"f_{call.ufunc.__name__}"] = call.ufunc
            if j == 0 and call.out == len(args) and len(args) not in call.operands \
                    and self._allocates(n, fn, kinds):
                self._line(n, f"{out} = f_{fn.__name__}({', '.join(operands)}, order='C')")
            else:
                where = names[call.out]
                where = where if positional_out(fn, len(operands)) else f"out={where}"
                self._line(n, f"f_{fn.__name__}({', '.join(operands)}, {where})")
        return True

    def _bind_reduce(self, n: Node, kernel: Any, args: list[str], out: str) -> bool:
        # the registry says the kernel is exactly xp.<ufunc>.reduce for this input's kind
        op = n.opdef
        reduce_ufunc = op.reduce_ufunc
        if (reduce_ufunc is None or kernel is not op.kernel or self.device != "cpu"
                or self.graph[n.inputs[0]].dtype.np.kind not in op.reduce_kinds):
            return False
        self._ns[f"u{n.id}"] = getattr(self.xp, reduce_ufunc).reduce
        axis = n.attrs.get("axis")
        self._ns[f"a{n.id}_axis"] = tuple(axis) if isinstance(axis, list) else axis
        keepdims = bool(n.attrs.get("keepdims", False))
        self._line(n, f"u{n.id}({args[0]}, a{n.id}_axis, None, {out}, {keepdims})")
        return True

    def _generate(self) -> str:
        """The schedule as one Python function ``schedule(xp, feeds, variables)``."""
        graph = self.graph
        assigns = [(n.inputs[0], n.inputs[1]) for n in graph.nodes if n.kind == "assign"]
        # (a fetched assign's value is the value it assigns, as tf.assign returns it)
        wanted = [graph[o].inputs[1] if graph[o].kind == "assign" else o for o in graph.outputs]
        handed: set[int] = set()

        def hand_out(nid: int) -> str:
            # an array made for this run goes out as it is, and as views after that (no later
            # run writes into it, and the Session copies fetched views); anything else (an
            # arena buffer, a feed, a variable, a const, a view of those) goes out as a copy
            name = self._ref(nid)
            if nid not in self._fresh:
                return f"copy({name})"
            result = f"{name}[...]" if nid in handed else name
            handed.add(nid)
            return result

        # updates first: a fresh array becomes the variable's new value without a copy
        updates = ", ".join(f"{var}: {hand_out(value)}" for var, value in assigns)
        fetched = ", ".join(hand_out(nid) for nid in wanted)
        # runs are serialised (they share the arena); a failing line raises an error that
        # names its node (_error); both inside the one function, so a run is one call
        self._first_body_line = 4 + len(self._prologue)
        lines = ["def schedule(feeds, variables):", "    with lock:", "        try:"]
        lines += [f"            {line}" for line in self._prologue + self._body]
        lines.append(f"            return [{fetched}], {{{updates}}}")
        lines += ["        except Exception as exc:", "            raise error(exc) from exc"]
        return "\n".join(lines) + "\n"

    # ---- running -----------------------------------------------------------------------

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """Runs the schedule once; returns (fetched values, {variable id: new value}).

        Runs of one executor are serialised: they share the arena.
        """
        return self._fn(feeds, variables)  # type: ignore[no-any-return]

    def _error(self, exc: Exception) -> Exception:
        """The failing line of the generated schedule, turned into an error naming its node."""
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is None:
            return exc
        if line < self._first_body_line:  # loading a feed or a variable
            if isinstance(exc, KeyError):
                nid = int(self.source.splitlines()[line - 1].split("[")[1].split("]")[0])
                node = self.graph[nid]
                return MissingFeedError(f"You must feed a value for {node.kind} "
                                        f"'{node.name or node.id}'{_at(node)}", op_name=node.name)
            return exc
        failed = self._line_node.get(line - self._first_body_line)
        if failed is None:
            return exc
        return ExecutionError(f"{type(exc).__name__}: {exc}\nWhile executing "
                              f"{failed.format()}{_at(failed)}", op_name=failed.name)

    def __len__(self) -> int:
        return len(self.steps)


def _call_args(n: Node, args: list[str]) -> str:
    return ", ".join(["xp", *args] + [f"{key}=a{n.id}_{key}" for key in n.attrs])


def _at(node: Node) -> str:
    return f" (created at {node.site})" if node.site else ""
