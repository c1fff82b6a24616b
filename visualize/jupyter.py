"""Jupyter integration: graphs and tensors' tapes display inline as SVG.

Every drawing this package returns is a :class:`~tapeflow.visualize.dot.Figure` with
``_repr_svg_``, so the last expression of a cell shows it. ``%load_ext
tapeflow.visualize.jupyter`` goes further and gives tapeflow's own objects an SVG view:

* a ``tapeflow.static.Graph`` or ``graphs.ir.Graph`` shows its drawing;
* a dynamic tensor with a tape (``grad_fn`` set) shows its autograd graph; tensors
  without one keep their text repr.

Example:
    >>> # In a notebook:  %load_ext tapeflow.visualize.jupyter   (or jupyter.enable())
    >>> # then:           loss          (shows the tape as SVG)
"""

from __future__ import annotations

from typing import Any

from .dot import DotNotFoundError

SVG_MIME = "image/svg+xml"

#: the (module, class name) of every type that gets an SVG view
TYPES = (
    ("tapeflow.static.graph", "Graph"),
    ("tapeflow.graphs.ir", "Graph"),
    ("tapeflow.dynamic.tensor", "Tensor"),
)


def svg_of(obj: Any) -> str | None:
    """The SVG view of a tapeflow object, or None when it has none (Jupyter then falls back
    to the text repr). A missing ``dot`` also gives None: the text repr is still useful."""
    try:
        if hasattr(obj, "grad_fn"):
            if obj.grad_fn is None:
                return None
            from .tape import tape

            return tape(obj).svg()
        from .static_graph import static_graph

        return static_graph(obj).svg()
    except DotNotFoundError:
        return None


def load_ipython_extension(ipython: Any) -> None:
    """Registers :func:`svg_of` for tapeflow's graph and tensor types (``%load_ext``)."""
    formatter = ipython.display_formatter.formatters[SVG_MIME]
    for module, name in TYPES:
        formatter.for_type_by_name(module, name, svg_of)


def unload_ipython_extension(ipython: Any) -> None:
    """Removes what :func:`load_ipython_extension` registered."""
    formatter = ipython.display_formatter.formatters[SVG_MIME]
    for module, name in TYPES:
        try:
            formatter.pop(f"{module}.{name}")
        except KeyError:
            pass


def enable() -> None:
    """The same as ``%load_ext tapeflow.visualize.jupyter``, from Python code in a notebook.

    Raises:
        RuntimeError: not running inside IPython/Jupyter.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        raise RuntimeError("tapeflow.visualize.jupyter.enable() needs IPython (run it in a "
                           "Jupyter notebook)") from None
    shell = get_ipython()
    if shell is None:
        raise RuntimeError("tapeflow.visualize.jupyter.enable(): not running inside "
                           "IPython/Jupyter")
    load_ipython_extension(shell)
