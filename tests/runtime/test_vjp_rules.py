"""Every differentiable op in the registry, checked against central finite differences.

The check walks the registry itself: a differentiable op with no entry in CASES fails
``test_every_differentiable_op_has_a_case``, so no gradient rule goes unchecked.
"""

from __future__ import annotations

import numpy as np
import pytest
from tapeflow.runtime import REGISTRY, R, evaluate, get
from vjp_cases import CASES, r, rng


def _numeric_vjp(op_name, inputs, attrs, index, g, eps=1e-6):
    """d <g, f(x)> / d x_index along a random direction, by central differences."""
    op = get(op_name)
    direction = rng.standard_normal(np.shape(inputs[index]))
    plus = list(inputs)
    minus = list(inputs)
    plus[index] = inputs[index] + eps * direction
    minus[index] = inputs[index] - eps * direction
    f_plus = np.sum(g * evaluate(op, plus, attrs))
    f_minus = np.sum(g * evaluate(op, minus, attrs))
    return (f_plus - f_minus) / (2 * eps), direction


def _analytic(op_name, inputs, attrs):
    op = get(op_name)
    ans = evaluate(op, inputs, attrs)
    g = rng.standard_normal(np.shape(ans))
    needed = [
        op.has_gradient_for(i) and np.asarray(x).dtype.kind == "f" for i, x in enumerate(inputs)
    ]
    grads = op.vjp(g, ans, inputs, attrs, needed)
    return g, grads, needed


def _sum_to(grad, shape):
    return evaluate(get("sum_to"), [grad, np.zeros(shape)], {}) if np.shape(grad) != shape else grad


def test_every_differentiable_op_has_a_case():
    missing = [name for name, op in REGISTRY.items() if op.differentiable and name not in CASES]
    assert not missing, f"differentiable ops with no gradient check: {missing}"


@pytest.mark.parametrize("op_name", sorted(n for n, op in REGISTRY.items() if op.differentiable))
def test_vjp_matches_finite_differences(op_name):
    for inputs, attrs in CASES[op_name]:
        inputs = tuple(np.asarray(x) if not isinstance(x, np.ndarray) else x for x in inputs)
        g, grads, needed = _analytic(op_name, inputs, attrs)
        assert any(needed), f"{op_name}: case has no differentiable input"
        for i, (grad, need) in enumerate(zip(grads, needed, strict=True)):
            if not need:
                continue
            grad = _sum_to(np.asarray(grad), np.shape(inputs[i]))
            assert grad.shape == np.shape(inputs[i]), (
                f"{op_name} input {i}: grad shape {grad.shape}"
            )
            numeric, direction = _numeric_vjp(op_name, inputs, attrs, i, g)
            analytic = float(np.sum(grad * direction))
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), (
                f"{op_name} input {i} attrs={attrs} shapes={[np.shape(x) for x in inputs]}"
            )


def test_rules_are_written_with_registry_ops():
    # a rule evaluated on plain arrays goes through F: it must produce arrays, not raise
    x, y = r(2, 3), r(3)
    assert R.mul(x, y).shape == (2, 3)
    op = get("mul")
    gx, gy = op.vjp(np.ones((2, 3)), R.mul(x, y), (x, y), {}, (True, True))
    assert gx.shape == (2, 3) and gy.shape == (2, 3)  # broadcast shape; engines sum it down
