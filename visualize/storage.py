"""The tensor -> storage -> raw data picture: views that share one storage, drawn.

Every tensor is a view: a shape, strides and an offset into a storage, which owns one
flat block of raw data. :func:`storage_figure` reads those three numbers from real
tensors (``shape``, ``stride()``, ``storage_offset()``, ``storage()``), draws each tensor
with them, the one storage they share, and the raw elements in memory order; under each
element, the index at which each tensor reads it (in that tensor's colour), so a
transpose or a column visibly reads the same bytes as the tensor it came from.

Example:
    >>> import tapeflow.dynamic as torch
    >>> x = torch.arange(6.0).reshape(2, 3)
    >>> "stride (3, 1)" in storage_figure({"x": x, "x.t()": x.t()}).source
    True
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping
from typing import Any

from .dot import DotBuilder, Figure
from .units import fmt_number

VIEW_COLOURS = ("#1f4e99", "#b03a2e", "#2e7d32", "#a07a00", "#5b3b99", "#00838f")
_TINTS = ("#dbe8ff", "#ffdcd4", "#c9efc9", "#fff1b8", "#e8dcff", "#d0f0f2")


def elements_read(shape: tuple[int, ...], strides: tuple[int, ...], offset: int) -> list[int]:
    """The storage indices a view reads, in its own (row-major) order."""
    return [offset + sum(i * s for i, s in zip(index, strides, strict=True))
            for index in itertools.product(*(range(n) for n in shape))]


def storage_figure(tensors: Mapping[str, Any], title: str = "") -> Figure:
    """Draws ``tensors`` (name -> tensor, all views of one storage) over their storage."""
    if not tensors:
        raise ValueError("storage_figure: give at least one tensor")
    first = next(iter(tensors.values()))
    storage = first.storage()
    if any(t.storage().data_ptr() != storage.data_ptr() for t in tensors.values()):
        raise ValueError("storage_figure: the tensors do not share one storage")
    values = list(storage)
    b = DotBuilder("storage", {"rankdir": "TB", "labelloc": "t", "nodesep": 0.3,
                               "label": title or "tensor -> storage -> raw data: views share "
                                                 "one storage"})
    rows = [_cell("#eeeeee", "raw data, memory order") + "".join(
        _cell("#ffffff", f"{k}: {fmt_number(v)}") for k, v in enumerate(values))]
    for k, (name, t) in enumerate(tensors.items()):
        colour = VIEW_COLOURS[k % len(VIEW_COLOURS)]
        shape, strides, offset = tuple(t.shape), tuple(t.stride()), t.storage_offset()
        contiguous = "contiguous" if t.is_contiguous() else "not contiguous"
        b.node(f"t{k}", label=f"{name}\nshape {shape}\nstride {strides}\noffset {offset}\n"
                              f"{contiguous}", shape="box", style="rounded,filled",
               fillcolor="white", color=colour, fontcolor=colour, penwidth=2)
        b.edge(f"t{k}", "storage", color=colour, label="view of")
        where = {e: index for index, e in zip(
            itertools.product(*(range(n) for n in shape)),
            elements_read(shape, strides, offset), strict=True)}
        rows.append(_cell("#ffffff", f"{name} reads", colour) + "".join(
            _cell(_TINTS[k % len(_TINTS)], str(list(where[e])), colour) if e in where
            else _cell("#ffffff", "") for e in range(len(values))))
    b.node("storage", label=f"Storage: {len(values)} x {getattr(first.dtype, 'name', '')}\n"
                            f"one block, shared by all {len(tensors)} tensors", shape="box",
           fillcolor="#fff1b8", color="#a07a00")
    table = "".join(f"<TR>{row}</TR>" for row in rows)
    b.lines.append(f'  "raw" [shape=plaintext, label=<<TABLE BORDER="0" CELLBORDER="1" '
                   f'CELLSPACING="0" CELLPADDING="4">{table}</TABLE>>];')
    b.edge("storage", "raw", label="owns")
    return b.figure(title or "tensor, storage and raw data", tensors=len(tensors),
                    elements=len(values))


def _cell(background: str, text: str, colour: str = "#222222") -> str:
    if not text:  # Graphviz rejects an empty FONT element
        return f'<TD BGCOLOR="{background}"> </TD>'
    return (f'<TD BGCOLOR="{background}"><FONT COLOR="{colour}">{html.escape(text)}'
            f"</FONT></TD>")


def storage_example() -> Figure:
    """The book's picture, from ``examples/tensor_basics.py``'s tensors: a 3 x 4 tensor,
    its transpose, a row and a column, all views of one storage of 12 floats."""
    import tapeflow.dynamic as torch

    x = torch.arange(12.0).reshape(3, 4)
    return storage_figure({"x": x, "x.t()": x.t(), "x[1]": x[1], "x[:, 1]": x[:, 1]})
