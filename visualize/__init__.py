"""tapeflow.visualize: graphs, tapes and memory plans as SVG; plots.

Drawings (need Graphviz's ``dot`` for SVG; ``.dot`` export works without it):

* :func:`static_graph`: a static graph's forward, backward and update parts, optionally
  coloured by its memory plan, with repeated RNN steps folded;
* :func:`tape` and :func:`recorded_forward`: a dynamic tensor's autograd tape and the
  forward graph it recorded;

Plots (matplotlib, SVG): :func:`memory_timeline`, :func:`loss_curves`. Every drawing is
a :class:`Figure` that shows inline in Jupyter. The figures that need the workloads (the
RNN padding figure, ``tapeflow graph``) and the HTML report live in ``tapeflow.compare``,
which builds on this package (never the other way round).

Example:
    >>> import tapeflow.dynamic as torch
    >>> from tapeflow.visualize import tape
    >>> x = torch.ones(2, requires_grad=True)
    >>> tape((x * 2).sum()).save("/tmp/tape.dot").name
    'tape.dot'
"""

from __future__ import annotations

from typing import Any

from .dot import INSTALL_HINT, DotNotFoundError, Figure, RenderError, dot_available
from .fold import fold
from .static_graph import static_graph
from .tape import recorded_forward, tape


def __getattr__(name: str) -> Any:
    # the plots import matplotlib, which is slow to load: only when asked for
    if name in ("memory_timeline", "loss_curves"):
        from . import plots

        return getattr(plots, name)
    if name == "trace_dynamic_step":
        from .memory_trace import trace_dynamic_step

        return trace_dynamic_step
    raise AttributeError(f"module 'tapeflow.visualize' has no attribute {name!r}")


__all__ = ["INSTALL_HINT", "DotNotFoundError", "Figure", "RenderError", "dot_available", "fold",
           "loss_curves", "memory_timeline", "recorded_forward",
           "static_graph", "tape", "trace_dynamic_step"]
