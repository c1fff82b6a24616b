"""DOT source, rendering it with Graphviz's ``dot``, and the figure object every drawing returns.

Every drawing in :mod:`tapeflow.visualize` builds DOT text (no ``dot`` needed) and wraps
it in a :class:`Figure`. Rendering to SVG runs the ``dot`` program; when it is missing,
:class:`DotNotFoundError` says how to install it, and ``.dot`` export still works.

Example:
    >>> from tapeflow.visualize.dot import DotBuilder
    >>> b = DotBuilder("demo")
    >>> b.node("a", label="x", shape="box")
    >>> b.edge("a", "a", label="self")
    >>> "digraph" in b.figure().source
    True
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install graphviz`; without it, save the figure as .dot instead "
    "(e.g. `tapeflow graph ... -o graph.dot`)"
)

# Layout settings that keep `dot` fast on graphs of a hundred nodes and more. Measured on
# the folded RNN T=64 training graph (141 nodes, labelled edges): spline routing is most of
# dot's time (5.7 s with splines, 2.5 s with polyline edges); capping the crossing
# minimisation and network-simplex passes costs little readability on these layered graphs.
FAST_GRAPH_ATTRS = {"splines": "polyline", "mclimit": "0.5", "nslimit": "2", "nslimit1": "2"}
FAST_ABOVE_NODES = 80  # smaller drawings keep smooth spline edges


class DotNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on PATH)."""


class RenderError(RuntimeError):
    """``dot`` ran but failed (bad DOT source or a timeout); shows what dot printed."""


def quote(text: object) -> str:
    """A DOT string literal: double-quoted, with quotes and backslashes escaped."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _attrs(attrs: dict[str, object]) -> str:
    parts = [f"{k}={quote(v)}" for k, v in attrs.items() if v is not None]
    return f" [{', '.join(parts)}]" if parts else ""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` is on PATH."""
    return shutil.which("dot") is not None


def render_svg(source: str, engine: str = "dot", timeout: float = 120.0) -> str:
    """Runs Graphviz on DOT ``source`` and returns the SVG text.

    Raises:
        DotNotFoundError: ``dot`` is not installed; the message has the install hint.
        RenderError: Graphviz rejected the source or took longer than ``timeout`` seconds.
    """
    exe = shutil.which(engine)
    if exe is None:
        raise DotNotFoundError(f"cannot render SVG: Graphviz's `{engine}` program was not "
                               f"found on PATH; {INSTALL_HINT}")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=source.encode(), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"`{engine}` took longer than {timeout:g} s; try folding repeated "
                          f"steps (collapse=True) or export .dot") from None
    if done.returncode != 0:
        raise RenderError(f"`{engine}` failed (exit {done.returncode}): "
                          f"{done.stderr.decode(errors='replace').strip()[:2000]}")
    return done.stdout.decode("utf-8")


@dataclass
class Figure:
    """A drawing: its DOT source, rendered to SVG on demand (cached).

    Displays inline in Jupyter (``_repr_svg_``). ``save("x.svg")`` renders with ``dot``;
    ``save("x.dot")`` writes the source and needs no Graphviz.

    Example:
        >>> fig = Figure("digraph { a -> b }", "demo")
        >>> fig.save("/tmp/demo.dot").suffix
        '.dot'
    """

    source: str
    title: str = ""
    info: dict[str, object] = field(default_factory=dict)
    _svg: str | None = field(default=None, repr=False)

    def svg(self) -> str:
        """The SVG text (runs ``dot`` once)."""
        if self._svg is None:
            self._svg = render_svg(self.source)
        return self._svg

    def _repr_svg_(self) -> str | None:
        # Jupyter falls back to the text repr on None: better than a traceback per cell
        try:
            return self.svg()
        except DotNotFoundError as exc:
            warnings.warn(str(exc), stacklevel=2)
            return None

    def save(self, path: str | Path) -> Path:
        """Writes ``.dot`` (the source) or ``.svg`` (rendered); returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".dot", ".gv"):
            path.write_text(self.source)
        elif suffix == ".svg":
            path.write_text(self.svg())
        else:
            raise ValueError(f"cannot save a graph as {path.name!r}: use a .svg or .dot name")
        return path

    def __str__(self) -> str:
        return self.source


class DotBuilder:
    """Accumulates DOT statements; clusters nest with ``with b.cluster(...)``."""

    def __init__(self, name: str, graph_attrs: dict[str, object] | None = None,
                 node_attrs: dict[str, object] | None = None,
                 edge_attrs: dict[str, object] | None = None) -> None:
        self.name = name
        self.lines: list[str] = [f"digraph {quote(name)} {{"]
        self._indent = 1
        defaults_graph = {"fontname": "Helvetica", "fontsize": 11}
        defaults_node = {"fontname": "Helvetica", "fontsize": 10, "style": "filled",
                         "fillcolor": "white", "penwidth": 1}
        defaults_edge = {"fontname": "Helvetica", "fontsize": 8, "color": "#555555",
                         "fontcolor": "#333333", "arrowsize": 0.6}
        self._emit("graph" + _attrs({**defaults_graph, **(graph_attrs or {})}))
        self._emit("node" + _attrs({**defaults_node, **(node_attrs or {})}))
        self._emit("edge" + _attrs({**defaults_edge, **(edge_attrs or {})}))
        self._clusters = 0
        self.node_count = 0

    def _emit(self, line: str) -> None:
        self.lines.append("  " * self._indent + line + ";")

    def node(self, node_id: str, **attrs: object) -> None:
        self.node_count += 1
        self._emit(quote(node_id) + _attrs(attrs))

    def edge(self, src: str, dst: str, **attrs: object) -> None:
        self._emit(f"{quote(src)} -> {quote(dst)}" + _attrs(attrs))

    def same_rank(self, node_ids: list[str]) -> None:
        """Draws these nodes side by side (one Graphviz rank)."""
        if node_ids:
            self.lines.append("  " * self._indent + "{rank=same; "
                              + "; ".join(quote(i) for i in node_ids) + "}")

    @contextmanager
    def cluster(self, label: str, **attrs: object) -> Iterator[None]:
        """Statements inside the block go into one Graphviz cluster (a labelled box)."""
        self._clusters += 1
        self.lines.append("  " * self._indent + f"subgraph cluster_{self._clusters} {{")
        self._indent += 1
        self._emit("graph" + _attrs({"label": label, **attrs}))
        try:
            yield
        finally:
            self._indent -= 1
            self.lines.append("  " * self._indent + "}")

    def figure(self, title: str = "", **info: object) -> Figure:
        """The finished drawing; big ones get :data:`FAST_GRAPH_ATTRS` (see there)."""
        lines = list(self.lines)
        if self.node_count > FAST_ABOVE_NODES:
            lines.insert(1, "  graph" + _attrs(dict(FAST_GRAPH_ATTRS)) + ";")
        return Figure("\n".join([*lines, "}"]) + "\n", title or self.name, dict(info))
