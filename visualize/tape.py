"""A dynamic (PyTorch-style) tape as a drawing, like torchviz: from a tensor to its leaves.

Two views of one recorded tape, both read from the objects the tape is made of
(``tensor.grad_fn``, ``fn.next_functions``, ``AccumulateGrad.variable``,
``fn.saved_tensors``, ``fn.op_name``, ``fn.attrs``):

* :func:`tape`: the autograd graph backward() walks: ``grad_fn`` nodes (``MulBackward0``),
  each leaf's ``AccumulateGrad`` with the leaf, its ``.grad`` and how many gradients
  accumulate into it, and optionally the tensors each node saved for backward;
* :func:`recorded_forward`: the forward graph the tape recorded: ops as boxes, tensors as
  edges labelled with dtype and shape, parameters and inputs as sources.

Example:
    >>> import tapeflow.dynamic as torch
    >>> from tapeflow.visualize import tape
    >>> w = torch.ones(3, requires_grad=True)
    >>> fig = tape((w * w).sum(), params={"w": w})
    >>> "MulBackward0" in fig.source
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .dot import DotBuilder, Figure

STYLES: dict[str, dict[str, str]] = {
    "root": {"shape": "box", "fillcolor": "#caff70", "color": "#4f7a28"},
    "fn": {"shape": "box", "style": "filled,rounded", "fillcolor": "#e8e8e8",
           "color": "#555555"},
    "accumulate": {"shape": "box", "style": "filled,rounded", "fillcolor": "#bfe3ff",
                   "color": "#1f5f99"},
    "leaf": {"shape": "box", "fillcolor": "#add8e6", "color": "#1f5f99"},
    "saved": {"shape": "box", "fillcolor": "#ffcc80", "color": "#b36b00"},
    "op": {"shape": "box", "style": "filled,rounded", "fillcolor": "#dbe8ff",
           "color": "#1f4e99"},
    "param": {"shape": "cylinder", "fillcolor": "#c9efc9", "color": "#2e7d32"},
    "input": {"shape": "invhouse", "fillcolor": "#fff1b8", "color": "#a07a00"},
}


def _shape_text(shape: Any) -> str:
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _dtype_text(dtype: Any) -> str:
    return str(getattr(dtype, "name", dtype))


def tensor_label(t: Any) -> str:
    """``float32(3, 4)`` for a tensor (or anything with shape and dtype)."""
    return f"{_dtype_text(t.dtype)}{_shape_text(t.shape)}"


def _fn_value(fn: Any) -> str:
    """What a grad_fn's forward op produced (``float32(3, 4)``), when it remembers that."""
    shape = getattr(fn, "out_shape", None)
    if shape is None:
        return ""
    return f"{_dtype_text(getattr(fn, 'out_dtype', ''))}{_shape_text(shape)}"


def _roots(tensors: Any) -> list[Any]:
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def _param_names(params: Mapping[str, Any] | None) -> dict[int, str]:
    return {id(t): name for name, t in (params or {}).items()}


def walk(roots: Sequence[Any]) -> Iterator[Any]:
    """Every grad_fn / AccumulateGrad reachable from ``roots`` (tensors), each once, from
    the roots towards the leaves; iterative, so long tapes cannot overflow the stack."""
    seen: set[int] = set()
    stack = [t.grad_fn for t in reversed(roots) if getattr(t, "grad_fn", None) is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        yield fn
        for nxt, _ in reversed(getattr(fn, "next_functions", ())):
            if nxt is not None and id(nxt) not in seen:
                stack.append(nxt)


def _saved(fn: Any) -> tuple[list[Any], bool]:
    """(saved tensors, freed?) of one grad_fn."""
    if getattr(fn, "freed", False):
        return [], True
    try:
        return list(getattr(fn, "saved_tensors", ())), False
    except RuntimeError:  # freed by backward()
        return [], True


def tape(tensors: Any, params: Mapping[str, Any] | None = None, show_saved: bool = False,
         show_attrs: bool = False, title: str = "") -> Figure:
    """The autograd graph of ``tensors`` (one tensor or a list), torchviz style.

    Args:
        tensors: the output(s), e.g. the loss.
        params: names for leaf tensors (``dict(model.named_parameters())``).
        show_saved: draw the tensors each node saved for backward (orange).
        show_attrs: show each node's op attributes.
        title: the drawing's title.
    """
    roots = _roots(tensors)
    names = _param_names(params)
    b = DotBuilder("tape", {"rankdir": "TB", "label": title or "autograd tape (grad_fn graph)",
                            "labelloc": "t", "ranksep": 0.3, "nodesep": 0.25})
    for k, t in enumerate(roots):
        b.node(f"out{k}", label=f"{names.get(id(t), 'output')}\n{tensor_label(t)}",
               **{**STYLES["root"], "class": "tape-root"})
    incoming: dict[int, int] = {}
    fns = list(walk(roots))
    for fn in fns:
        for nxt, _ in getattr(fn, "next_functions", ()):
            if nxt is not None:
                incoming[id(nxt)] = incoming.get(id(nxt), 0) + 1
    for fn in fns:
        fid = f"fn{id(fn)}"
        leaf = getattr(fn, "variable", None)
        if leaf is not None:
            _draw_accumulate(b, fid, leaf, names, incoming.get(id(fn), 0))
            continue
        label = fn.name()
        if show_attrs and getattr(fn, "attrs", None):
            label += "\n" + ", ".join(f"{k}={v!r}"[:24] for k, v in fn.attrs.items()
                                      if k != "generator")
        b.node(fid, label=label, tooltip=f"op {getattr(fn, 'op_name', '?')} -> "
               f"{_fn_value(fn)}", **{**STYLES["fn"], "class": "tape-fn"})
        for nxt, _ in getattr(fn, "next_functions", ()):
            if nxt is not None:
                shape = _fn_value(nxt) if getattr(nxt, "variable", None) is None \
                    else tensor_label(nxt.variable)
                b.edge(f"fn{id(nxt)}", fid, label=shape)
        if show_saved:
            saved, freed = _saved(fn)
            for k, s in enumerate(saved):
                sid = f"{fid}_saved{k}"
                b.node(sid, label=f"saved\n{tensor_label(s)}",
                       **{**STYLES["saved"], "class": "tape-saved"})
                b.edge(sid, fid, style="dashed", arrowhead="none", color="#b36b00")
            if freed:
                b.node(f"{fid}_freed", label="saved tensors freed\n(backward ran)",
                       shape="plaintext", fontsize=8, style="")
                b.edge(f"{fid}_freed", fid, style="dotted", arrowhead="none")
    for k, t in enumerate(roots):
        if getattr(t, "grad_fn", None) is not None:
            b.edge(f"fn{id(t.grad_fn)}", f"out{k}", label=tensor_label(t))
    return b.figure(title or "autograd tape", nodes=len(fns))


def _draw_accumulate(b: DotBuilder, fid: str, leaf: Any, names: dict[int, str],
                     contributions: int) -> None:
    """A leaf's AccumulateGrad node and the leaf itself, with its ``.grad``."""
    grad = getattr(leaf, "grad", None)
    grad_text = "grad: None" if grad is None else f"grad: {tensor_label(grad)}"
    summed = f"\n{contributions} gradients summed" if contributions > 1 else ""
    b.node(fid, label=f"AccumulateGrad{summed}",
           **{**STYLES["accumulate"], "class": "tape-accumulate"})
    lid = f"leaf{id(leaf)}"
    b.node(lid, label=f"{names.get(id(leaf), 'leaf')}\n{tensor_label(leaf)}\n{grad_text}",
           **{**STYLES["leaf"], "class": "tape-leaf"})
    b.edge(lid, fid, style="dashed", arrowhead="none", color="#1f5f99")


def draw_recorded_forward(b: DotBuilder, tensors: Any, params: Mapping[str, Any] | None,
                          prefix: str = "", fold_inputs: bool = False) -> int:
    """Draws the forward graph recorded on the tape of ``tensors`` into ``b``; returns the
    number of op nodes. ``prefix`` keeps node ids apart when several graphs share ``b``."""
    roots = _roots(tensors)
    names = _param_names(params)
    fns = [fn for fn in walk(roots) if getattr(fn, "variable", None) is None]
    fns.sort(key=lambda fn: getattr(fn, "seq", 0))  # recording order = forward order
    drawn_sources: set[int] = set()

    def source(t: Any, kind: str) -> str:
        sid = f"{prefix}src{id(t)}"
        if id(t) not in drawn_sources:
            drawn_sources.add(id(t))
            name = names.get(id(t), "parameter" if kind == "param" else "input")
            b.node(sid, label=f"{name}\n{tensor_label(t)}",
                   **{**STYLES[kind], "class": f"tape-{kind}"})
        return sid

    for fn in fns:
        fid = f"{prefix}fn{id(fn)}"
        attrs = {k: v for k, v in (getattr(fn, "attrs", None) or {}).items()
                 if k not in ("generator", "index") and v is not None}
        label = getattr(fn, "op_name", fn.name())
        scalars = [repr(a) for a in getattr(fn, "inputs", ()) if isinstance(a, (int, float))]
        extra = ", ".join([*(f"{k}={v!r}"[:20] for k, v in list(attrs.items())[:2]), *scalars])
        b.node(fid, label=label + (f"\n{extra}" if extra else ""),
               **{**STYLES["op"], "class": "tape-op"})
        inputs = getattr(fn, "inputs", ())
        nexts = [n for n, _ in getattr(fn, "next_functions", ())]
        for i, arg in enumerate(inputs):
            nxt = nexts[i] if i < len(nexts) else None
            if nxt is not None and getattr(nxt, "variable", None) is not None:
                src, label_text = source(nxt.variable, "param"), tensor_label(nxt.variable)
            elif nxt is not None:
                src, label_text = f"{prefix}fn{id(nxt)}", _fn_value(nxt)
            elif hasattr(arg, "shape") and hasattr(arg, "dtype") and not fold_inputs:
                src, label_text = source(arg, "input"), tensor_label(arg)
            else:
                continue
            b.edge(src, fid, label=label_text)
    for k, t in enumerate(roots):
        if getattr(t, "grad_fn", None) is not None:
            b.node(f"{prefix}out{k}", label=f"{names.get(id(t), 'output')}\n{tensor_label(t)}",
                   **{**STYLES["root"], "class": "tape-root"})
            b.edge(f"{prefix}fn{id(t.grad_fn)}", f"{prefix}out{k}", label=tensor_label(t))
    return len(fns)


def recorded_forward(tensors: Any, params: Mapping[str, Any] | None = None,
                     title: str = "") -> Figure:
    """The forward graph the tape of ``tensors`` recorded: ops, and tensors as edges.

    Only ops that were recorded appear (those with an input that requires grad, run with
    grad mode on), exactly what backward() will walk.
    """
    b = DotBuilder("recorded_forward", {"rankdir": "TB", "labelloc": "t", "ranksep": 0.3,
                                        "label": title or "forward graph recorded on the tape"})
    count = draw_recorded_forward(b, tensors, params)
    return b.figure(title or "recorded forward graph", nodes=count)
