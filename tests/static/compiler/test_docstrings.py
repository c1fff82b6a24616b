"""Every compiler module's docstring examples run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import tapeflow.static.compiler as compiler

MODULES = sorted(m.name for m in pkgutil.iter_modules(compiler.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"tapeflow.static.compiler.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) failed"
