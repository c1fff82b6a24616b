"""Inputs for every differentiable registry op, shared by the gradient tests beside this file
(``test_vjp_rules.py`` checks each rule against finite differences, ``test_saves.py`` checks
what each rule declares it reads)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tapeflow.runtime import encode_index

rng = np.random.default_rng(0)


def r(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


def pos(*shape: int) -> np.ndarray:
    return rng.uniform(0.5, 2.0, size=shape)


def away_from(value: float, *shape: int) -> np.ndarray:
    # values at least 0.2 away from a kink (relu at 0, clamp at its bounds)
    x = rng.uniform(0.2, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x + value


SHAPES = [(), (3,), (2, 3), (1, 3)]
PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (1, 3)), ((1, 3), (2, 1)), ((2, 3), ())]


def unary(gen=r, **attrs):
    return [((gen(*s),), attrs) for s in SHAPES]


def binary(gen_x=r, gen_y=r, **attrs):
    return [((gen_x(*a), gen_y(*b)), attrs) for a, b in PAIRS]


# op name -> list of (inputs, attrs). Inputs that are integer arrays are not differentiated.
CASES: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "add": binary(),
    "sub": binary(),
    "mul": binary(),
    "div": binary(gen_y=pos),
    "pow": binary(gen_x=pos) + [((pos(2, 3), np.float64(2.0)), {})],
    "maximum": [((r(2, 3), r(2, 3)), {}), ((r(2, 3), r(3)), {})],
    "minimum": [((r(2, 3), r(2, 3)), {}), ((r(2, 3), r(3)), {})],
    "neg": unary(),
    "exp": unary(),
    "log": unary(pos),
    "sqrt": unary(pos),
    "abs": unary(lambda *s: away_from(0.0, *s)),
    "sigmoid": unary(),
    "tanh": unary(),
    "log1p": unary(pos),
    "expm1": unary(),
    "softplus": unary() + unary(beta=2.0, threshold=1.5) + [((r(3) * 5,), {"threshold": 20.0})],
    "erf": unary(),
    "gather": [((r(3, 4), np.array([[0, 3], [1, 1], [2, 0]])), {"axis": 1}),
               ((r(3, 4), np.array([[2, 0, 1, 2], [0, 0, 1, 1]])), {"axis": 0})],
    "scatter_add_along": [((r(3, 2), np.array([[0, 3], [1, 1], [2, 0]]), r(3, 4)),
                           {"axis": 1})],
    "scatter_along": [((r(3, 4), np.array([[0, 3], [1, 2], [2, 0]]), r(3, 2)), {"axis": 1})],
    "cumsum": [((r(3, 4),), {"axis": 1}), ((r(3, 4),), {"axis": 0, "reverse": True}),
               ((r(5),), {"axis": 0})],
    "tanh_grad": binary(),
    "sigmoid_grad": binary(),
    "sparse_softmax_cross_entropy": [
        ((r(4), np.int64(2)), {}),
        ((r(3, 4), np.array([0, 3, 1])), {}),
        ((r(2, 3, 5), np.array([[0, 4, 2], [1, 1, 3]])), {}),
    ],
    "sparse_softmax_cross_entropy_grad": [
        ((r(), r(4), np.int64(2)), {}),
        ((r(3), r(3, 4), np.array([0, 3, 1])), {}),
        ((r(2, 3), r(2, 3, 5), np.array([[0, 4, 2], [1, 1, 3]])), {}),
    ],
    "sin": unary(),
    "cos": unary(),
    "relu": unary(lambda *s: away_from(0.0, *s)),
    "identity": unary(),
    "copy": unary(),
    "clamp": [
        ((away_from(0.3, 2, 3) * 2,), {"min": 0.3}),
        ((away_from(-0.2, 3) * 2,), {"max": -0.2}),
        ((np.array([-2.0, -0.3, 0.1, 0.4, 2.0]),), {"min": -0.5, "max": 0.5}),
    ],
    "cast": [((r(2, 3),), {"dtype": "float64"})],
    "where": [((r(2, 3) > 0, r(2, 3), r(2, 3)), {}), ((r(3) > 0, r(2, 3), r(1, 3)), {})],
    "sum": [
        ((r(2, 3),), {}),
        ((r(2, 3),), {"axis": 0}),
        ((r(2, 3, 4),), {"axis": (0, 2)}),
        ((r(2, 3),), {"axis": -1, "keepdims": True}),
        ((r(),), {}),
    ],
    "mean": [
        ((r(2, 3),), {}),
        ((r(2, 3),), {"axis": 1}),
        ((r(2, 3, 4),), {"axis": (1, -1), "keepdims": True}),
    ],
    "max": [
        ((r(2, 3),), {}),
        ((r(2, 3),), {"axis": 1}),
        ((r(2, 3),), {"axis": 0, "keepdims": True}),
    ],
    "min": [
        ((r(2, 3),), {}),
        ((r(2, 3),), {"axis": 1}),
        ((r(2, 3),), {"axis": 0, "keepdims": True}),
    ],
    "unreduce": [
        ((r(3), r(2, 3)), {"axis": 0}),
        ((r(2, 1), r(2, 3)), {"axis": 1, "keepdims": True}),
        ((r(), r(2, 3)), {"mean": True}),
    ],
    "softmax": [((r(2, 3),), {}), ((r(2, 3),), {"axis": 0}), ((r(4),), {})],
    "log_softmax": [((r(2, 3),), {}), ((r(2, 3),), {"axis": 0}), ((r(4),), {})],
    "matmul": [
        ((r(2, 3), r(3, 4)), {}),
        ((r(3, 2), r(3, 4)), {"transpose_a": True}),
        ((r(2, 3), r(4, 3)), {"transpose_b": True}),
        ((r(3, 2), r(4, 3)), {"transpose_a": True, "transpose_b": True}),
        ((r(5, 2, 3), r(3, 4)), {}),
        ((r(5, 2, 3), r(5, 4, 3)), {"transpose_b": True}),
        ((r(1, 2, 3), r(4, 3, 2)), {}),
    ],
    "reshape": [
        ((r(2, 3),), {"shape": (3, 2)}),
        ((r(2, 3),), {"shape": (-1,)}),
        ((r(6),), {"shape": (1, 2, 3)}),
    ],
    "reshape_like": [((r(2, 3), r(6)), {})],
    "transpose": [
        ((r(2, 3),), {}),
        ((r(2, 3, 4),), {"axes": (1, 2, 0)}),
        ((r(2, 3, 4),), {"axes": (-1, 0, 1)}),
    ],
    "squeeze": [((r(1, 3),), {}), ((r(2, 1, 3),), {"axis": 1}), ((r(1, 3, 1),), {"axis": (0, -1)})],
    "unsqueeze": [((r(3),), {"axis": 0}), ((r(2, 3),), {"axis": -1})],
    "broadcast_to": [
        ((r(3),), {"shape": (2, 3)}),
        ((r(2, 1),), {"shape": (2, 4)}),
        ((r(),), {"shape": (2,)}),
    ],
    "broadcast_like": [((r(3), r(2, 3)), {}), ((r(1, 3), r(4, 3)), {})],
    "sum_to": [
        ((r(2, 3), r(3)), {}),
        ((r(2, 3), r(1, 3)), {}),
        ((r(2, 3), r(2, 1)), {}),
        ((r(2, 3), r()), {}),
    ],
    "concat": [((r(2, 3), r(1, 3)), {"axis": 0}), ((r(2, 3), r(2, 2), r(2, 1)), {"axis": -1})],
    "stack": [((r(2, 3), r(2, 3)), {"axis": 0}), ((r(3), r(3), r(3)), {"axis": -1})],
    "getitem": [
        ((r(4, 3),), {"index": encode_index(1)}),
        ((r(4, 3),), {"index": encode_index((slice(1, 3), -1))}),
        ((r(5, 4),), {"index": encode_index((slice(None, None, 2), slice(None, None, -1)))}),
        ((r(2, 3, 4),), {"index": encode_index((Ellipsis, None, 2))}),
    ],
    "unindex": [
        ((r(3), r(4, 3)), {"index": encode_index(1)}),
        ((r(2, 2), r(4, 3)), {"index": encode_index((slice(0, 4, 2), slice(1, None)))}),
    ],
    "take": [
        ((r(5, 3), np.array([0, 2, 2, 4])), {}),
        ((r(5, 3), np.array([[1, 0], [2, 2]])), {}),
        ((r(2, 5), np.array([4, 4, 0])), {"axis": 1}),
    ],
    "scatter_add": [
        ((r(4, 3), np.array([0, 2, 2, 4]), r(5, 3)), {}),
        ((r(2, 3), np.array([4, 4, 0]), r(2, 5)), {"axis": 1}),
    ],
    "index_assign": [
        ((r(4, 3), r(3)), {"index": encode_index(1)}),
        ((r(4, 3), r(2, 1)), {"index": encode_index((slice(1, 3), slice(None)))}),
        ((r(2, 3), r()), {"index": encode_index(Ellipsis)}),
    ],
    "mask_select": [((r(3, 4), r(3, 4) > 0), {}), ((r(3, 4), np.array([True, False, True])), {})],
    "mask_scatter": [
        ((r(5), np.array([True, False, True, True, False, True, False, True]), r(8)), {}),
        ((r(2, 2), np.array([True, False, True]), r(3, 2)), {}),
    ],
}
