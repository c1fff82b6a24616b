"""Tensor methods of issue 21 (products, gathers and scatters, sorting, running sums,
in-place variants) against PyTorch 2.13: values and gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as tt

real = pytest.importorskip("torch")

rng = np.random.default_rng(7)
M = rng.standard_normal((3, 4))  # distinct values: sorting has no ties
N = rng.standard_normal((4, 2))
V = rng.standard_normal(4)
W = rng.standard_normal(4)
IDX = [[0, 3], [1, 1], [2, 0]]  # a repeat in row 1: gradients add up


def _both(fn, *arrays):
    """fn(lib, *tensors) for both libraries: outputs and the inputs' gradients of a weighted
    sum of the (first) output."""
    results = []
    for lib in (tt, real):
        tensors = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *tensors)
        first = out[0] if isinstance(out, tuple) else out
        weights = lib.tensor(np.sin(np.arange(first.numel(), dtype=np.float64) + 1.0))
        (first * weights.reshape(first.shape)).sum().backward()
        values = [o.detach().numpy() for o in (out if isinstance(out, tuple) else (out,))]
        results.append((values, [t.grad.numpy() for t in tensors]))
    return results


CASES = {
    "dot": (lambda lib, a, b: a.dot(b), (V, W)),
    "torch.dot": (lambda lib, a, b: lib.dot(a, b), (V, W)),
    "outer": (lambda lib, a, b: lib.outer(a, b), (V, W[:3])),
    "mv": (lambda lib, m, v: m.mv(v), (M, V)),
    "addmm": (lambda lib, c, a, b: lib.addmm(c, a, b, beta=0.5, alpha=2.0), (N[:3], M, N)),
    "addcmul": (lambda lib, x, a, b: x.addcmul(a, b, value=0.3), (V, W, V * 2)),
    "gather": (lambda lib, m: m.gather(1, lib.tensor(IDX)), (M,)),
    "gather dim 0": (lambda lib, m: lib.gather(m, 0, lib.tensor([[2, 0, 1, 1]])), (M,)),
    "scatter src": (lambda lib, m, s: m.scatter(1, lib.tensor([[0, 3], [1, 2], [2, 0]]), s),
                    (M, N[:3])),
    "scatter value": (lambda lib, m: m.scatter(1, lib.tensor([[0], [3], [1]]), value=2.5),
                      (M,)),
    "scatter_add": (lambda lib, m, s: m.scatter_add(1, lib.tensor(IDX), s), (M, N[:3])),
    "index_select": (lambda lib, m: m.index_select(1, lib.tensor([3, 0, 3])), (M,)),
    "sort": (lambda lib, m: m.sort(dim=1), (M,)),
    "sort descending": (lambda lib, m: lib.sort(m, 0, descending=True), (M,)),
    "topk": (lambda lib, m: m.topk(2), (M,)),
    "topk smallest dim 0": (lambda lib, m: lib.topk(m, 2, dim=0, largest=False), (M,)),
    "argsort": (lambda lib, m: (m * 1.0, m.argsort(dim=1, descending=True)), (M,)),
    "cumsum": (lambda lib, m: m.cumsum(1), (M,)),
    "cumsum dim 0": (lambda lib, m: lib.cumsum(m, dim=0), (M,)),
    "masked_fill": (lambda lib, m: m.masked_fill(m > 0, -1.0), (M,)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_method_matches_pytorch(case) -> None:
    fn, arrays = CASES[case]
    ours, theirs = _both(fn, *arrays)
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["exp_", "sigmoid_", "tanh_", "relu_", "abs_"])
def test_inplace_unary_matches_pytorch(name) -> None:
    outs = []
    for lib in (tt, real):
        x = lib.tensor(M, requires_grad=True)
        y = x * 1.0
        result = getattr(y, name)()
        assert result is y
        (y * 2).sum().backward()
        outs.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)


def test_inplace_scatter_and_friends_match_pytorch() -> None:
    outs = []
    for lib in (tt, real):
        x = lib.zeros(3, 5, dtype=lib.float64)
        x.scatter_(1, lib.tensor([[0, 1], [2, 2], [4, 0]]), lib.ones(3, 2, dtype=lib.float64))
        x.scatter_add_(0, lib.tensor([[1, 1, 0, 0, 2]]), lib.full((1, 5), 3.0,
                                                                    dtype=lib.float64))
        x.pow_(2).sqrt_().mul_(2).add_(1).clamp_(max=6.0)
        x.addcdiv_(lib.ones(3, 5, dtype=lib.float64), lib.full((3, 5), 4.0,
                                                               dtype=lib.float64), value=2)
        x.masked_fill_(x > 5.5, 0.0)
        outs.append(x.numpy())
    np.testing.assert_allclose(outs[0], outs[1])


def test_errors_follow_pytorch() -> None:
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D tensors"):
        tt.ones(2, 2).dot(tt.ones(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        tt.ones(2).dot(tt.ones(3))
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        tt.ones(3).topk(4)
    with pytest.raises(RuntimeError, match="index 2 is out of bounds for dimension 1 with size 2"):
        tt.ones(2, 2).gather(1, tt.tensor([[2, 0], [0, 0]]))
    with pytest.raises(TypeError, match="must be Tensor"):
        tt.dot([1.0], tt.ones(1))


def test_sort_returns_a_named_pair() -> None:
    values, indices = tt.tensor([2.0, 0.5, 1.0]).sort()
    result = tt.tensor([2.0, 0.5, 1.0]).sort(descending=True)
    assert values.tolist() == [0.5, 1.0, 2.0] and indices.tolist() == [1, 2, 0]
    assert result.indices.tolist() == [0, 2, 1] and indices.dtype == tt.int64
    assert repr(tt.tensor([3.0, 1.0]).topk(1)).startswith("torch.return_types.topk(values=")
