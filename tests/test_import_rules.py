"""The import rules of DESIGN.md, read from the source with ``ast`` (nothing is imported).

* the compiler (``static/compiler``) imports nothing of the TF1 API in ``static/``: only
  itself, ``static/errors.py``, ``graphs`` and ``runtime``;
* only the bridge (``static/jit``) imports ``dynamic`` among the modules of ``static``;
* ``dynamic`` never imports ``static``;
* the layers below them stay below: ``runtime`` imports no other package of tapeflow and
  ``graphs`` only ``runtime``.

Imports inside functions count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["tapeflow", *parts])


def is_module(name: str) -> bool:
    """Whether ``tapeflow.a.b`` names a module or package of the source tree."""
    parts = name.split(".")[1:]
    base = ROOT.joinpath(*parts) if parts else ROOT
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, tapeflow module) for every import of a tapeflow module in ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tapeflow"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.startswith("tapeflow"):
                module = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield node.lineno, sub if is_module(sub) else module


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def violations(folder: str, allowed: Any) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {target}"
            for path in sources(folder) for line, target in imports_of(path)
            if not allowed(path, target)]


def within(target: str, *prefixes: str) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def test_the_reader_resolves_relative_imports() -> None:
    found = dict((t, line) for line, t in imports_of(ROOT / "static" / "compiler" / "pipeline.py"))
    assert "tapeflow.graphs.ir" in found and "tapeflow.static.compiler.passes" in found


def test_the_compiler_imports_no_tf1_api_module() -> None:
    def allowed(path: Path, target: str) -> bool:
        return not within(target, "tapeflow.static") or within(
            target, "tapeflow.static.compiler", "tapeflow.static.errors")

    assert violations("static/compiler", allowed) == []
    assert violations("static/compiler", lambda p, t: within(t, "tapeflow.graphs",
                                                             "tapeflow.runtime",
                                                             "tapeflow.static")) == []


def test_only_the_bridge_imports_dynamic() -> None:
    def allowed(path: Path, target: str) -> bool:
        return not within(target, "tapeflow.dynamic") or "jit" in path.relative_to(
            ROOT / "static").parts

    assert violations("static", allowed) == []


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("dynamic", ("tapeflow.static",)),
    ("graphs", ("tapeflow.static", "tapeflow.dynamic", "tapeflow.visualize", "tapeflow.compare")),
    ("runtime", ("tapeflow.graphs", "tapeflow.static", "tapeflow.dynamic",
                 "tapeflow.visualize", "tapeflow.compare")),
])
def test_lower_layers_do_not_import_upper_ones(folder: str, forbidden: tuple[str, ...]) -> None:
    assert violations(folder, lambda p, t: not within(t, *forbidden)) == []
