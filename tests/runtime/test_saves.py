"""What each gradient rule declares it reads (``saves=`` at registration) is what it reads.

Every rule of every differentiable op runs twice on the inputs of ``vjp_cases.py``: once on
the real values, once with each value it does not declare (the output or an input) replaced
by a :class:`Blank`, which has the shape and dtype a tape keeps but no data. The gradients
must agree exactly, so a rule that reads an undeclared value fails here instead of reading
a freed or overwritten buffer in a backward pass.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest
from tapeflow.runtime import REGISTRY, OpDef, evaluate, get
from vjp_cases import CASES


class Blank:
    """A value without data: shape, dtype and ndim (what a tape keeps), nothing else."""

    __array_ufunc__ = None  # numpy arithmetic with a Blank raises TypeError

    def __init__(self, array: Any) -> None:
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a gradient rule read the data of a value it does not save")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a gradient rule read .{name} of a value it does not save")


def _patterns(op: OpDef, count: int) -> list[tuple[bool, ...]]:
    """Each input with a rule on its own, and all of them together."""
    has_rule = [op.has_gradient_for(i) for i in range(count)]
    single = [tuple(j == i for j in range(count)) for i in range(count) if has_rule[i]]
    return [*single, tuple(has_rule)]


def _check(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any]) -> None:
    ans = evaluate(op, inputs, attrs)
    g = np.random.default_rng(1).standard_normal(np.shape(ans))
    for needed in _patterns(op, len(inputs)):
        full = op.vjp(g, ans, inputs, attrs, needed)
        keep_ans, keep = op.saved_for(needed)
        blanked = tuple(x if k else Blank(x) for x, k in zip(inputs, keep, strict=True))
        got = op.vjp(g, ans if keep_ans else Blank(ans), blanked, attrs, needed)
        for i, (want, have) in enumerate(zip(full, got, strict=True)):
            assert (want is None) == (have is None)
            if want is not None:
                assert np.array_equal(np.asarray(want), np.asarray(have)), (
                    f"{op.name}: the gradient of input {i} changed without undeclared values")


def _cases(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return [(tuple(np.asarray(x) for x in inputs), attrs) for inputs, attrs in CASES[name]]


@pytest.mark.parametrize("op_name", sorted(n for n, op in REGISTRY.items() if op.differentiable))
def test_rules_read_only_what_they_declare(op_name: str) -> None:
    op = get(op_name)
    for inputs, attrs in _cases(op_name):
        _check(op, inputs, attrs)


def test_a_missing_declaration_fails_the_check() -> None:
    # mul's rules read the other input; declaring that they read nothing must be caught
    wrong = dataclasses.replace(get("mul"), saves=((), ()))
    with pytest.raises(Exception, match="does not save|cannot apply"):
        for inputs, attrs in _cases("mul"):
            _check(wrong, inputs, attrs)


def test_declarations_save_only_what_the_requested_gradients_read() -> None:
    mul, div, exp = get("mul"), get("div"), get("exp")
    assert mul.saved_for((True, False)) == (False, (False, True))
    assert div.saved_for((False, True)) == (True, (False, True))
    assert exp.saved_for((True,)) == (True, (False,))
    # shape-only inputs are never saved, whatever a rule names
    assert get("sum_to").saved_for((True, False)) == (False, (False, False))
    for op in REGISTRY.values():
        if op.differentiable and op.arity is not None:
            for needed in itertools.product((False, True), repeat=op.arity):
                op.saved_for(needed)  # every declared name resolves to an input


def test_register_rejects_a_rule_without_saves_or_with_an_unknown_name() -> None:
    from tapeflow.runtime.registry import register

    kernel, infer = get("neg").kernel, get("neg").infer
    with pytest.raises(ValueError, match="declare what its gradient rules read"):
        register("_undeclared", kernel=kernel, infer=infer, vjp=[lambda g, ans, x: g])
    with pytest.raises(ValueError, match="'z'"):
        register("_misnamed", kernel=kernel, infer=infer, vjp=[lambda g, ans, x: g], saves=("z",))
    assert "_undeclared" not in REGISTRY and "_misnamed" not in REGISTRY
