"""How each registry op becomes ONNX nodes (default opset 17; 18 moves reduce axes to inputs).

A rule gets the :class:`Emitter`, the IR node, its input value names and input specs, and
the name its result must have; it adds nodes and returns nothing. Inputs are cast the way
the runtime promotes them (``registry.operand_dtype``), so ONNX sees the dtypes tapeflow
computes in. Ops without a rule (random draws, gradient-only ops) are export errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...graphs import ir
from ...runtime import Spec, decode_index, get
from ...runtime import dtypes as dt
from ...runtime.registry import operand_dtype

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class OnnxExportError(NotImplementedError):
    """An op, node or graph that ONNX export cannot express. Names the op and the node."""

    def __init__(self, message: str, op: str = "", node_name: str = "") -> None:
        super().__init__(message)
        self.op = op
        self.node_name = node_name


class Emitter:
    """Collects ONNX nodes and initializers, making fresh value names as needed."""

    def __init__(self, onnx: Any, opset: int) -> None:
        self.onnx = onnx
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def add(self, op_type: str, inputs: Sequence[str], out: str | None = None,
            hint: str = "tmp", **attrs: Any) -> str:
        out = out or self.fresh(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out],
                                                     name=self.fresh(op_type), **attrs))
        return out

    def const(self, value: Any, name: str | None = None, dtype: Any = None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = name or self.fresh("const")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def cast(self, name: str, have: dt.DType, want: dt.DType, out: str | None = None) -> str:
        if have is want and out is None:
            return name
        if have is want:
            return self.add("Identity", [name], out)
        return self.add("Cast", [name], out, to=tensor_type(self.onnx, want))


def tensor_type(onnx: Any, dtype: dt.DType) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(dtype.np))


def rank(node: ir.Node, spec: Spec) -> int:
    if spec.shape is None:
        raise OnnxExportError(f"export_onnx: node '{node.name}' ({node.op}) needs the rank of "
                              "its input, which is unknown; give the placeholder a shape",
                              node.op, node.name)
    return len(spec.shape)


def promoted(e: Emitter, node: ir.Node, args: list[str], specs: list[Spec]) -> list[str]:
    """The inputs cast to the dtype the runtime computes ``node.op`` in."""
    op = get(node.op)
    common = operand_dtype(op, [s.dtype for s in specs], [None] * len(specs))
    if common is None:
        return list(args)
    which = set(op.promote_inputs if op.promote_inputs is not None else range(len(args)))
    return [e.cast(a, s.dtype, common) if i in which else a
            for i, (a, s) in enumerate(zip(args, specs, strict=True))]


Rule = Callable[[Emitter, ir.Node, list[str], list[Spec], str], None]
RULES: dict[str, Rule] = {}


def _simple(op: str, onnx_op: str) -> None:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        e.add(onnx_op, promoted(e, n, args, specs), out)

    RULES[op] = rule


for _op, _onnx in [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                   ("pow", "Pow"), ("maximum", "Max"), ("minimum", "Min"), ("eq", "Equal"),
                   ("lt", "Less"), ("le", "LessOrEqual"), ("gt", "Greater"),
                   ("ge", "GreaterOrEqual"), ("neg", "Neg"), ("exp", "Exp"), ("log", "Log"),
                   ("sqrt", "Sqrt"), ("abs", "Abs"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
                   ("relu", "Relu"), ("sign", "Sign"), ("identity", "Identity"),
                   ("copy", "Identity"), ("stop_gradient", "Identity")]:
    _simple(_op, _onnx)


def _log1p(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    (x,) = promoted(e, n, args, specs)  # (ONNX has no Log1p: log(1 + x))
    e.add("Log", [e.add("Add", [x, e.const(1, dtype=n.dtype.np)])], out)


def _expm1(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    (x,) = promoted(e, n, args, specs)  # (ONNX has no Expm1: e^x - 1)
    e.add("Sub", [e.add("Exp", [x]), e.const(1, dtype=n.dtype.np)], out)


def _ne(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.add("Not", [e.add("Equal", promoted(e, n, args, specs))], out)


def _logical(onnx_op: str) -> Rule:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        e.add(onnx_op, [e.cast(a, s.dtype, dt.bool_) for a, s in zip(args, specs, strict=True)],
              out)

    return rule


RULES.update(ne=_ne, logical_and=_logical("And"), logical_or=_logical("Or"),
             logical_not=_logical("Not"))


def _cast(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.cast(args[0], specs[0].dtype, n.dtype, out)


def _clamp(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    x = e.cast(args[0], specs[0].dtype, n.dtype)
    bounds = [("" if n.attrs.get(k) is None else e.const(n.attrs[k], dtype=n.dtype.np))
              for k in ("min", "max")]
    e.add("Clip", [x, *bounds], out)


def _where(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    cond, x, y = promoted(e, n, args, specs)
    e.add("Where", [e.cast(cond, specs[0].dtype, dt.bool_), x, y], out)


def _matmul(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    a, b = promoted(e, n, args, specs)
    operands = []
    for name, spec, flag in ((a, specs[0], "transpose_a"), (b, specs[1], "transpose_b")):
        if n.attrs.get(flag):
            r = rank(n, spec)  # swap the last two axes
            name = e.add("Transpose", [name], perm=[*range(r - 2), r - 1, r - 2])
        operands.append(name)
    e.add("MatMul", operands, out)


RULES.update(cast=_cast, clamp=_clamp, where=_where, matmul=_matmul)


def _axes_list(axis: Any) -> list[int] | None:
    if axis is None:
        return None
    return [int(axis)] if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]


def _reduce(onnx_op: str) -> Rule:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        x = e.cast(args[0], specs[0].dtype, n.dtype)  # int sums in int64, int means in float
        axes = _axes_list(n.attrs.get("axis"))
        keepdims = int(bool(n.attrs.get("keepdims", False)))
        if axes == []:  # numpy: an empty axis tuple reduces nothing (ONNX would reduce all)
            e.add("Identity", [x], out)
        elif onnx_op == "ReduceSum" or e.opset >= 18:  # axes as an input
            e.add(onnx_op, [x] + ([e.ints(axes)] if axes else []), out, keepdims=keepdims)
        elif axes:
            e.add(onnx_op, [x], out, axes=axes, keepdims=keepdims)
        else:
            e.add(onnx_op, [x], out, keepdims=keepdims)

    return rule


def _arg(onnx_op: str) -> Rule:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        axis, keepdims = n.attrs.get("axis"), bool(n.attrs.get("keepdims", False))
        if axis is not None:
            e.add(onnx_op, [args[0]], out, axis=int(axis), keepdims=int(keepdims))
            return
        flat = e.add("Reshape", [args[0], e.ints([-1])])  # numpy: the index into x.ravel()
        if keepdims:
            index = e.add(onnx_op, [flat], axis=0, keepdims=0)
            e.add("Reshape", [index, e.ints([1] * rank(n, specs[0]))], out)
        else:
            e.add(onnx_op, [flat], out, axis=0, keepdims=0)

    return rule


def _softmax(onnx_op: str) -> Rule:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        e.add(onnx_op, promoted(e, n, args, specs), out, axis=int(n.attrs.get("axis", -1)))

    return rule


RULES.update(log1p=_log1p, expm1=_expm1)
RULES.update(sum=_reduce("ReduceSum"), mean=_reduce("ReduceMean"), max=_reduce("ReduceMax"),
             min=_reduce("ReduceMin"), argmax=_arg("ArgMax"), argmin=_arg("ArgMin"),
             softmax=_softmax("Softmax"), log_softmax=_softmax("LogSoftmax"))


def _reshape(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    shape = [int(d) for d in n.attrs["shape"]]
    allowzero: dict[str, Any] = {"allowzero": 1} if 0 in shape and -1 not in shape else {}
    e.add("Reshape", [args[0], e.ints(shape)], out, **allowzero)


def _like(onnx_op: str) -> Rule:
    def rule(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
        e.add(onnx_op, [args[0], e.add("Shape", [args[1]])], out)

    return rule


def _transpose(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    axes = n.attrs.get("axes")
    r = rank(n, specs[0])
    perm = list(reversed(range(r))) if axes is None else [int(a) % r for a in axes]
    e.add("Transpose", [args[0]], out, perm=perm)


def _squeeze(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    axes = _axes_list(n.attrs.get("axis"))
    e.add("Squeeze", [args[0]] + ([e.ints(axes)] if axes is not None else []), out)


def _unsqueeze(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.add("Unsqueeze", [args[0], e.ints([int(n.attrs.get("axis", 0))])], out)


def _broadcast_to(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.add("Expand", [args[0], e.ints(n.attrs["shape"])], out)


def _concat(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.add("Concat", promoted(e, n, args, specs), out, axis=int(n.attrs.get("axis", 0)))


def _stack(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    axis = int(n.attrs.get("axis", 0))  # negative: counted in the output's rank, as in ONNX
    parts = [e.add("Unsqueeze", [a, e.ints([axis])]) for a in promoted(e, n, args, specs)]
    e.add("Concat", parts, out, axis=axis)


RULES.update(reshape=_reshape, reshape_like=_like("Reshape"), transpose=_transpose,
             squeeze=_squeeze, unsqueeze=_unsqueeze, broadcast_to=_broadcast_to,
             broadcast_like=_like("Expand"), concat=_concat, stack=_stack)


def _getitem(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    """x[index] for a basic index: Slice (ints as one-wide slices), Squeeze, Unsqueeze."""
    items = list(decode_index(n.attrs["index"]))
    r = rank(n, specs[0])
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (r - consumed)
    else:
        items += [slice(None)] * (r - consumed)
    starts, ends, axes, steps, squeeze, new_axes = [], [], [], [], [], []
    dim = out_dim = 0
    for item in items:
        if item is None:
            new_axes.append(out_dim)
            out_dim += 1
            continue
        if isinstance(item, int):
            starts.append(item)
            ends.append(INT64_MAX if item == -1 else item + 1)
            axes.append(dim)
            steps.append(1)
            squeeze.append(dim)
        else:
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                default_start, default_end = (0, INT64_MAX) if step > 0 else (INT64_MAX, INT64_MIN)
                starts.append(default_start if item.start is None else int(item.start))
                ends.append(default_end if item.stop is None else int(item.stop))
                axes.append(dim)
                steps.append(step)
            out_dim += 1
        dim += 1
    value = args[0]
    if axes:
        value = e.add("Slice", [value, e.ints(starts), e.ints(ends), e.ints(axes),
                                e.ints(steps)])
    if squeeze:
        value = e.add("Squeeze", [value, e.ints(squeeze)])
    if new_axes:
        value = e.add("Unsqueeze", [value, e.ints(new_axes)])
    e.add("Identity", [value], out)


def _take(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    e.add("Gather", args, out, axis=int(n.attrs.get("axis", 0)))


def _one_hot(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    depth = int(n.attrs["depth"])
    index_dtype = specs[0].dtype.np
    # TF1 gives a zero row for a negative index; ONNX would count it from the end
    negative = e.add("Less", [args[0], e.const(0, dtype=index_dtype)])
    indices = e.add("Where", [negative, e.const(depth, dtype=index_dtype), args[0]])
    values = e.const([0, 1], dtype=n.dtype.np)
    e.add("OneHot", [indices, e.ints([depth]), values], out, axis=-1)


def _sparse_ce(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    # -sum(one_hot(label) * log_softmax(x)) over the last axis; labels are checked at run time
    # by tapeflow, so ONNX's OneHot (which counts a negative index from the end) suffices
    logits, labels = args
    classes = specs[0].shape[-1] if specs[0].shape else None
    if classes is None:
        raise OnnxExportError(f"sparse_softmax_cross_entropy: the class axis of '{n.name}' "
                              "needs a known size", n.op, n.name)
    log_probs = e.add("LogSoftmax", [logits], axis=-1)
    values = e.const([0, 1], dtype=n.dtype.np)
    onehot = e.add("OneHot", [labels, e.ints([int(classes)]), values], axis=-1)
    picked = e.add("ReduceSum", [e.add("Mul", [onehot, log_probs]), e.ints([-1])], keepdims=0)
    e.add("Neg", [picked], out)


def _full_like(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    fill = e.onnx.numpy_helper.from_array(np.asarray([n.attrs.get("value", 0)], n.dtype.np))
    e.add("ConstantOfShape", [e.add("Shape", [args[0]])], out, value=fill)


def _created(e: Emitter, n: ir.Node, args: list[str], specs: list[Spec], out: str) -> None:
    # full/arange/eye take no inputs: their value is fixed, so it is exported as data
    attrs = {k: v for k, v in n.attrs.items()}
    e.add("Identity", [e.const(get(n.op).kernel(np, **attrs))], out)


RULES.update(getitem=_getitem, take=_take, one_hot=_one_hot, full_like=_full_like,
             sparse_softmax_cross_entropy=_sparse_ce,
             full=_created, arange=_created, eye=_created)
