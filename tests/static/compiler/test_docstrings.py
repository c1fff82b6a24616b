"""Every compiler module's docstring examples run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import tapeflow.static.compiler as compiler


def _modules_with_examples() -> list[str]:
    found = []
    for info in pkgutil.iter_modules(compiler.__path__):
        module = importlib.import_module(f"tapeflow.static.compiler.{info.name}")
        if any(t.examples for t in doctest.DocTestFinder().find(module)):
            found.append(info.name)
    return sorted(found)


MODULES = _modules_with_examples()


def test_the_compiler_documents_its_passes_with_examples() -> None:
    # the pipeline, the passes and the executor at least: a module losing every example
    # (or the finder finding none) shows here, not as a silently shorter parameter list
    assert {"pipeline", "passes", "fusion", "recompute", "loop_runner"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"tapeflow.static.compiler.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, \
        f"{name}: {result.failed} of {result.attempted} docstring example(s) failed"
