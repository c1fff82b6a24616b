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

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..graphs.ir import freeze
from .dot import DotBuilder, Figure, quote
from .fold import Folded, fold_keys, generalise_steps

AUTO_FOLD_TAPE = 200  # tapes with more recorded nodes fold repeated steps unless told

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


_OBJECT_ID = re.compile(r'(?<=")([A-Za-z0-9]*_)?(fn|leaf)(\d+)')


def stable_ids(source: str) -> str:
    """DOT ``source`` with the object ids in node names (``fn140234...``) renumbered in
    order of first appearance, so the same tape draws the same bytes in every run."""
    numbers: dict[str, int] = {}

    def renumber(match: re.Match[str]) -> str:
        number = numbers.setdefault(match.group(3), len(numbers))
        return f"{match.group(1) or ''}{match.group(2)}{number}"

    return _OBJECT_ID.sub(renumber, source)


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


def _nexts(fn: Any) -> list[Any]:
    return [n for n, _ in getattr(fn, "next_functions", ()) if n is not None]


def _is_leaf(fn: Any) -> bool:
    return getattr(fn, "variable", None) is not None


def walk(roots: Sequence[Any]) -> list[Any]:
    """Every grad_fn / AccumulateGrad reachable from ``roots`` (tensors), each once, in
    topological order: producers before consumers, so each node's ``next_functions`` come
    first. Iterative (post-order), so long tapes cannot overflow the stack."""
    order: list[Any] = []
    seen: set[int] = set()
    for t in roots:
        start = getattr(t, "grad_fn", None)
        if start is None or id(start) in seen:
            continue
        seen.add(id(start))
        stack: list[tuple[Any, Iterator[Any]]] = [(start, iter(_nexts(start)))]
        while stack:
            fn, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                order.append(fn)
            elif id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append((nxt, iter(_nexts(nxt))))
    return order


def _saved(fn: Any) -> tuple[list[Any], bool]:
    """(saved tensors, freed?) of one grad_fn."""
    if getattr(fn, "freed", False):
        return [], True
    try:
        return list(getattr(fn, "saved_tensors", ())), False
    except RuntimeError:  # freed by backward()
        return [], True


def _fn_base(fn: Any) -> tuple[Any, ...]:
    """What a recorded op computes, for folding: its kind, attributes (step indices
    generalised), output shape and dtype."""
    attrs = tuple(sorted((k, generalise_steps(freeze(v)) if k == "index" else repr(freeze(v)))
                         for k, v in (getattr(fn, "attrs", None) or {}).items()
                         if k != "generator"))
    return (fn.name(), attrs, _fn_value(fn))


class _Tape:
    """The recorded nodes of some tensors' tapes, optionally folded."""

    def __init__(self, roots: list[Any], collapse: bool | None) -> None:
        self.roots = roots
        everything = walk(roots)
        self.fns = [fn for fn in everything if not _is_leaf(fn)]
        self.leaves = [fn for fn in everything if _is_leaf(fn)]
        if collapse is None:
            collapse = len(self.fns) > AUTO_FOLD_TAPE
        self.folded: Folded | None = None
        if collapse:
            self.folded = fold_keys([id(fn) for fn in self.fns],
                                    {id(fn): _fn_base(fn) for fn in self.fns},
                                    {id(fn): [id(n) for n in _nexts(fn)] for fn in self.fns})
        self.position = {id(fn): k for k, fn in enumerate(everything)}

    def group(self, fn: Any) -> int:
        """The id of the group ``fn`` belongs to (its own id when not folded)."""
        return self.folded.group_of[id(fn)] if self.folded is not None else id(fn)

    def size(self, fn: Any) -> int:
        return len(self.folded.members[id(fn)]) if self.folded is not None else 1

    def heads(self) -> list[Any]:
        """One fn per group (the group's first member), in topological order."""
        return [fn for fn in self.fns if self.group(fn) == id(fn)]

    def edge_attrs(self, src: int, dst: int, label: str, count: int) -> dict[str, object]:
        attrs: dict[str, object] = {"label": label + (f" \u00d7{count}" if count > 1 else "")}
        if src == dst:
            attrs.update(color="#1f4e99", penwidth=1.6)  # a folded recurrence
        elif self.position.get(src, -1) > self.position.get(dst, -1):
            attrs.update(constraint="false", style="dashed")
        return attrs

    def heading(self, text: str) -> str:
        if self.folded is None or not self.folded.folded_count:
            return text
        return f"{text}  (repeated steps folded: {len(self.fns)} nodes drawn as " \
               f"{len(self.folded)})"


def tape(tensors: Any, params: Mapping[str, Any] | None = None, show_saved: bool = False,
         show_attrs: bool = False, title: str = "", collapse: bool | None = None) -> Figure:
    """The autograd graph of ``tensors`` (one tensor or a list), torchviz style.

    Args:
        tensors: the output(s), e.g. the loss.
        params: names for leaf tensors (``dict(model.named_parameters())``).
        show_saved: draw the tensors each node saved for backward (orange).
        show_attrs: show each node's op attributes.
        title: the drawing's title.
        collapse: fold repeated steps (an RNN's loop); None folds tapes of more than
            :data:`AUTO_FOLD_TAPE` nodes.
    """
    rec = _Tape(_roots(tensors), collapse)
    names = _param_names(params)
    heading = rec.heading(title or "autograd tape (grad_fn graph)")
    b = DotBuilder("tape", {"rankdir": "TB", "label": heading, "labelloc": "t",
                            "ranksep": 0.3, "nodesep": 0.25})
    for k, t in enumerate(rec.roots):
        b.node(f"out{k}", label=f"{names.get(id(t), 'output')}\n{tensor_label(t)}",
               **{**STYLES["root"], "class": "tape-root"})
    incoming: Counter[int] = Counter(id(n) for fn in rec.fns for n in _nexts(fn))
    for leaf in rec.leaves:
        _draw_accumulate(b, f"fn{id(leaf)}", leaf.variable, names, incoming[id(leaf)])
    for fn in rec.heads():
        count = rec.size(fn)
        label = fn.name() + (f" \u00d7{count}" if count > 1 else "")
        if show_attrs and getattr(fn, "attrs", None):
            label += "\n" + ", ".join(f"{k}={v!r}"[:24] for k, v in fn.attrs.items()
                                      if k != "generator")
        b.node(f"fn{id(fn)}", label=label, tooltip=f"op {getattr(fn, 'op_name', '?')} -> "
               f"{_fn_value(fn)}", **{**STYLES["fn"], "class": "tape-fn",
                                      **({"peripheries": 2} if count > 1 else {})})
        if show_saved:
            _draw_saved(b, fn, count)
    edges: Counter[tuple[int, int]] = Counter()
    shape_of: dict[int, str] = {}
    for fn in rec.fns:
        for nxt in _nexts(fn):
            src = id(nxt) if _is_leaf(nxt) else rec.group(nxt)
            shape_of[src] = tensor_label(nxt.variable) if _is_leaf(nxt) else _fn_value(nxt)
            edges[(src, rec.group(fn))] += 1
    for (src, dst), count in edges.items():
        b.edge(f"fn{src}", f"fn{dst}", **rec.edge_attrs(src, dst, shape_of[src], count))
    for k, t in enumerate(rec.roots):
        if getattr(t, "grad_fn", None) is not None:
            b.edge(f"fn{rec.group(t.grad_fn)}", f"out{k}", label=tensor_label(t))
    fig = b.figure(heading, nodes=len(rec.fns), drawn=len(rec.heads()))
    fig.source = stable_ids(fig.source)
    return fig


def _draw_saved(b: DotBuilder, fn: Any, count: int) -> None:
    """The tensors ``fn`` saved for backward (for a folded group: its first member's)."""
    fid = f"fn{id(fn)}"
    saved, freed = _saved(fn)
    times = f" \u00d7{count}" if count > 1 else ""
    for k, s in enumerate(saved):
        sid = f"{fid}_saved{k}"
        b.node(sid, label=f"saved{times}\n{tensor_label(s)}",
               **{**STYLES["saved"], "class": "tape-saved"})
        b.edge(sid, fid, style="dashed", arrowhead="none", color="#b36b00")
    if freed:
        b.node(f"{fid}_freed", label="saved tensors freed\n(backward ran)", shape="plaintext",
               fontsize=8, style="")
        b.edge(f"{fid}_freed", fid, style="dotted", arrowhead="none")


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
                          prefix: str = "", fold_inputs: bool = False,
                          collapse: bool | None = None) -> _Tape:
    """Draws the forward graph recorded on the tape of ``tensors`` into ``b``; returns
    what it drew. ``prefix`` keeps node ids apart when several graphs share ``b``;
    ``fold_inputs`` leaves out tensors that need no gradient (data)."""
    rec = _Tape(_roots(tensors), collapse)
    names = _param_names(params)
    drawn_sources: set[int] = set()

    def source(t: Any, kind: str) -> int:
        if id(t) not in drawn_sources:
            drawn_sources.add(id(t))
            name = names.get(id(t), "parameter" if kind == "param" else "input")
            b.node(f"{prefix}fn{id(t)}", label=f"{name}\n{tensor_label(t)}",
                   **{**STYLES[kind], "class": f"tape-{kind}"})
        return id(t)

    for fn in rec.heads():
        count = rec.size(fn)
        attrs = {k: v for k, v in (getattr(fn, "attrs", None) or {}).items()
                 if k not in ("generator", "index") and v is not None}
        label = getattr(fn, "op_name", fn.name()) + (f" \u00d7{count}" if count > 1 else "")
        scalars = [repr(a) for a in getattr(fn, "inputs", ()) if isinstance(a, (int, float))]
        extra = ", ".join([*(f"{k}={v!r}"[:20] for k, v in list(attrs.items())[:2]), *scalars])
        b.node(f"{prefix}fn{id(fn)}", label=label + (f"\n{extra}" if extra else ""),
               **{**STYLES["op"], "class": "tape-op",
                  **({"peripheries": 2} if count > 1 else {})})
    edges: Counter[tuple[int, int]] = Counter()
    shape_of: dict[int, str] = {}
    for fn in rec.fns:
        nexts = [n for n, _ in getattr(fn, "next_functions", ())]
        for i, arg in enumerate(getattr(fn, "inputs", ())):
            nxt = nexts[i] if i < len(nexts) else None
            if nxt is not None and _is_leaf(nxt):
                src, text = source(nxt.variable, "param"), tensor_label(nxt.variable)
            elif nxt is not None:
                src, text = rec.group(nxt), _fn_value(nxt)
            elif hasattr(arg, "shape") and hasattr(arg, "dtype") and not fold_inputs:
                src, text = source(arg, "input"), tensor_label(arg)
            else:
                continue
            shape_of[src] = text
            edges[(src, rec.group(fn))] += 1
    for (src, dst), count in edges.items():
        b.edge(f"{prefix}fn{src}", f"{prefix}fn{dst}",
               **rec.edge_attrs(src, dst, shape_of[src], count))
    for k, t in enumerate(rec.roots):
        if getattr(t, "grad_fn", None) is not None:
            b.node(f"{prefix}out{k}", label=f"{names.get(id(t), 'output')}\n{tensor_label(t)}",
                   **{**STYLES["root"], "class": "tape-root"})
            b.edge(f"{prefix}fn{rec.group(t.grad_fn)}", f"{prefix}out{k}",
                   label=tensor_label(t))
    return rec


def recorded_forward(tensors: Any, params: Mapping[str, Any] | None = None,
                     title: str = "", collapse: bool | None = None) -> Figure:
    """The forward graph the tape of ``tensors`` recorded: ops, and tensors as edges.

    Only ops that were recorded appear (those with an input that requires grad, run with
    grad mode on), exactly what backward() will walk. ``collapse`` folds repeated steps
    (None: tapes of more than :data:`AUTO_FOLD_TAPE` nodes).
    """
    b = DotBuilder("recorded_forward", {"rankdir": "TB", "labelloc": "t", "ranksep": 0.3})
    rec = draw_recorded_forward(b, tensors, params, collapse=collapse)
    heading = rec.heading(title or "forward graph recorded on the tape")
    b.lines.insert(1, f"  graph [label={quote(heading)}];")
    fig = b.figure(heading, nodes=len(rec.fns), drawn=len(rec.heads()))
    fig.source = stable_ids(fig.source)
    return fig
