"""graphs/sweep.py on its own: a toy engine over numpy arrays drives the shared reverse sweep.

Both front ends drive the same sweep (tests/static/test_gradients.py and
tests/dynamic/test_autograd.py check them); here its contract is checked directly: newest
node first, each node once after all its gradients, gradients from several consumers
summed, a broadcast gradient summed down to its input's shape and cast to its dtype, edges
with no gradient reported, and no recursion on a long chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tapeflow.graphs.sweep import Gathered, fit, reverse_sweep
from tapeflow.runtime import dtypes as dt
from tapeflow.runtime import get
from tapeflow.runtime.registry import evaluate


@dataclass(eq=False)
class Leaf:
    value: np.ndarray


@dataclass(eq=False)
class ToyNode:
    seq: int
    inputs: tuple[np.ndarray, ...]
    edges: tuple[Any, ...]
    rule: Callable[[np.ndarray], tuple[Any, ...]]


@dataclass
class ToyEngine:
    """Nodes are ToyNodes, ends are Leafs, values numpy arrays; it notes what it was asked."""

    order: list[int] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    sums: int = 0

    def rank(self, target: Any) -> int | None:
        return target.seq if isinstance(target, ToyNode) else None

    def vjp(self, node: ToyNode, grad: np.ndarray) -> Any:
        self.order.append(node.seq)
        return zip(node.edges, node.rule(grad), node.inputs, strict=True)

    def fits(self, grad: Any, like: np.ndarray) -> bool:
        return isinstance(grad, np.ndarray) and grad.shape == like.shape and (
            grad.dtype == like.dtype)

    def value(self, grad: Any, like: np.ndarray) -> np.ndarray:
        return grad if isinstance(grad, np.ndarray) else np.full_like(like, grad)

    def same_shape(self, grad: np.ndarray, like: np.ndarray) -> bool:
        return grad.shape == like.shape

    def dtype(self, value: np.ndarray) -> dt.DType:
        return dt.as_dtype(value.dtype)

    def apply(self, op: str, args: tuple[Any, ...], attrs: dict[str, Any]) -> np.ndarray:
        self.applied.append(op)
        return evaluate(get(op), list(args), attrs)

    def add(self, gathered: Gathered, grad: np.ndarray) -> None:
        self.sums += 1
        gathered.grad = gathered.grad + grad


def test_diamond_runs_newest_first_each_node_once_and_sums_both_paths() -> None:
    # y = a * b with a = 2x and b = 3x: dy/dx = 12x, reaching x along two paths
    x = Leaf(np.array([1.0, 2.0]))
    a = ToyNode(1, (x.value,), (x,), lambda g: (2.0 * g,))
    b = ToyNode(2, (x.value,), (x,), lambda g: (3.0 * g,))
    av, bv = 2.0 * x.value, 3.0 * x.value
    y = ToyNode(3, (av, bv), (a, b), lambda g: (g * bv, g * av))
    engine = ToyEngine()
    swept = reverse_sweep([(y, np.ones(2))], engine)
    assert engine.order == [3, 2, 1]
    assert swept.ran == [y, b, a]
    assert [end.target for end in swept.ends] == [x]
    np.testing.assert_array_equal(swept.ends[0].grad, 12.0 * x.value)
    assert engine.sums == 1 and engine.applied == []


def test_a_broadcast_gradient_is_summed_to_its_input_and_cast_to_its_dtype() -> None:
    bias = Leaf(np.zeros(3, dtype=np.float32))
    h = np.ones((2, 3))
    add = ToyNode(1, (h, bias.value), (None, bias), lambda g: (g, g))  # g is (2, 3) float64
    engine = ToyEngine()
    swept = reverse_sweep([(add, np.full((2, 3), 0.5))], engine)
    (end,) = swept.ends
    assert end.grad.shape == (3,) and end.grad.dtype == np.float32
    np.testing.assert_array_equal(end.grad, [1.0, 1.0, 1.0])
    assert engine.applied == ["sum_to", "cast"]  # summed in float64, then cast
    # a rule's plain number becomes the engine's value through the same fit
    assert fit(engine, 2.0, np.zeros(3)).tolist() == [2.0, 2.0, 2.0]


def test_edges_without_gradient_are_reported_and_not_run() -> None:
    x = Leaf(np.array([1.0]))
    hidden = ToyNode(1, (x.value,), (x,), lambda g: (g,))
    out = ToyNode(2, (x.value, x.value), (hidden, x), lambda g: (None, g))
    engine = ToyEngine()
    swept = reverse_sweep([(out, np.ones(1))], engine)
    assert swept.unfed == [hidden] and engine.order == [2]
    assert swept.ends[0].grad.tolist() == [1.0]


def test_a_100k_node_chain_needs_no_recursion() -> None:
    x = Leaf(np.array([1.0]))
    prev: Any = x
    for seq in range(100_000):
        prev = ToyNode(seq, (x.value,), (prev,), lambda g: (g,))
    swept = reverse_sweep([(prev, np.ones(1))], ToyEngine())
    assert len(swept.ran) == 100_000 and swept.ends[0].grad.tolist() == [1.0]


def test_both_engines_drive_this_sweep() -> None:
    import importlib
    import inspect

    for name in ("tapeflow.dynamic.engine", "tapeflow.static.gradients"):
        module = importlib.import_module(name)
        assert module.reverse_sweep is reverse_sweep
        source = inspect.getsource(module)
        assert "heappush" not in source and "def _fit" not in source  # no walk of its own


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_fit_leaves_a_fitting_gradient_alone(shape: tuple[int, ...]) -> None:
    grad = np.ones(shape)
    engine = ToyEngine()
    assert fit(engine, grad, np.zeros(shape)) is grad and engine.applied == []
