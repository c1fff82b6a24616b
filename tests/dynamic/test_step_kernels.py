"""The shortcuts of a training step outside the tape compute what the paths they skip compute.

The eager optimizers update numpy parameters straight through the registry kernels' ufuncs
(``dynamic/optim_stores.py``) unless something watches the ops; an observer makes them take
the tensor path, so each optimizer is run both ways and must leave the same bits in the
parameters and state buffers and the same version counters. The ``mean`` kernel runs
np.mean's sum and division without its Python wrapper, and ``unreduce`` broadcasts without
np.broadcast_to: both are checked bit for bit against those numpy calls.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import thread_state
from tapeflow.dynamic.optim_stores import ARRAYS, IN_PLACE, gradients
from tapeflow.runtime import get
from tapeflow.runtime.shapes import normalize_axes

OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
]


def _train(name: str, options: dict[str, Any], dtype: Any, watched: bool) -> tuple[Any, ...]:
    """Five steps of ``name`` on four parameters (one 0-d, one never given a gradient); with
    ``watched`` an observer sends every update through the tensor path. Returns the bytes of
    parameters and buffers, the parameters' and buffers' version counters and the losses."""
    rng = np.random.default_rng(3)
    params = [torch.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
              for s in ((3, 4), (4,), (), (2,))]
    opt = getattr(torch.optim, name)(params, **options)
    kernels: list[str] = []

    def observe(event: str, what: Any) -> None:
        if event == "kernel":
            kernels.append(what)

    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = (params[0].sum(0) * params[1]).tanh().sum() * params[2] + (params[0] ** 2).mean()
        loss.backward()
        if watched:
            thread_state.add_observer(observe)
        try:
            opt.step()
        finally:
            if watched:
                thread_state.remove_observer(observe)
        losses.append(loss.item())
    assert bool(kernels) == watched  # (the watched run did take the tensor path)
    buffers = [b for state in opt.state.values() for b in state.values()]
    data = b"".join(p.detach().numpy().tobytes() for p in params) + b"".join(
        b.numpy().tobytes() for b in buffers if isinstance(b, torch.Tensor))
    versions = [p._vc[0] for p in params] + [
        b._vc[0] for b in buffers if isinstance(b, torch.Tensor)]
    return data, versions, losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "options"), OPTIMIZERS)
def test_optimizers_on_arrays_match_the_tensor_path_bit_for_bit(
        name: str, options: dict[str, Any], dtype: Any) -> None:
    fast, slow = _train(name, options, dtype, False), _train(name, options, dtype, True)
    assert fast == slow
    # one write per step of each parameter with a gradient (AdamW's decay is a second)
    writes = 10 if name == "AdamW" else 5
    assert fast[1][:4] == [writes, writes, writes, 0]


def test_the_array_store_is_taken_only_for_plain_float_arrays_and_unwatched_ops() -> None:
    w = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    (w * 2).sum().backward()
    b.grad = torch.ones(2, dtype=torch.float64)  # (a gradient of another dtype)
    assert [store for store, _, _ in gradients([w, b])] == [ARRAYS, IN_PLACE]

    def observe(event: str, what: Any) -> None:
        pass

    thread_state.add_observer(observe)
    try:
        assert [store for store, _, _ in gradients([w])] == [IN_PLACE]
    finally:
        thread_state.remove_observer(observe)


def test_a_buffer_of_another_dtype_sends_the_update_through_tensors() -> None:
    # a state buffer that no longer matches the parameter (its data replaced by float64)
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.5, momentum=0.9)
    (w * 2).sum().backward()
    opt.step()
    w.data = w.data.double()
    w.grad = torch.full((3,), 2.0, dtype=torch.float64)
    opt.step()  # buffer float32, parameter float64: the tensor path promotes as PyTorch does
    assert w.tolist() == pytest.approx([1.0 - 1.0 - 0.5 * (0.9 * 2 + 2)] * 3)
    assert opt.state[w]["momentum_buffer"].tolist() == pytest.approx([3.8] * 3)


def test_a_parameter_updated_by_the_array_store_fails_a_saved_graph() -> None:
    w = torch.ones(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    saved = (w * w).sum()  # saves w at version 0
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.backward()


def _axes_of(ndim: int) -> list[Any]:
    every = [None, *range(-ndim, ndim)]
    return every + [c for r in (2, 3) for c in itertools.combinations(range(ndim), r)]


SHAPES = [(), (1,), (7,), (4, 2), (3, 5, 7), (2, 1, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_mean_kernel_is_np_mean_bit_for_bit(shape: tuple[int, ...], dtype: Any) -> None:
    mean = get("mean").kernel
    x = (np.random.default_rng(0).standard_normal(shape) * 10).astype(dtype)
    for axis, keepdims in itertools.product(_axes_of(x.ndim), (False, True)):
        want = np.asarray(np.mean(x, axis=axis, keepdims=keepdims))
        got = np.asarray(mean(np, x, axis=axis, keepdims=keepdims))
        assert (got.dtype, got.shape, got.tobytes()) == (want.dtype, want.shape, want.tobytes())
    if x.ndim and x.dtype.kind == "f":
        want, got = np.empty(shape[1:], dtype), np.empty(shape[1:], dtype)
        np.mean(x, axis=0, out=want)
        assert mean(np, x, axis=0, out=got) is got
        assert got.tobytes() == want.tobytes()


def _unreduce_before(g: Any, like: Any, axis: Any, keepdims: bool, mean: bool) -> Any:
    # the formulation the kernel had: reshape, divide, np.broadcast_to(...).copy()
    axes = normalize_axes("unreduce", axis, like.ndim)
    if not keepdims:
        g = np.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(like.shape)))
    if mean:
        g = g / max(int(np.prod([like.shape[a] for a in axes])), 1)
    return np.broadcast_to(g, like.shape).copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", SHAPES)
def test_unreduce_is_the_broadcast_copy_bit_for_bit(shape: tuple[int, ...], dtype: Any) -> None:
    unreduce = get("unreduce").kernel
    x = (np.random.default_rng(1).standard_normal(shape) * 10).astype(dtype)
    for axis, keepdims, mean in itertools.product(_axes_of(x.ndim), (False, True),
                                                  (False, True)):
        g = np.asarray(np.sum(x, axis=axis, keepdims=keepdims))
        want = _unreduce_before(g, x, axis, keepdims, mean)
        got = unreduce(np, g, x, axis=axis, keepdims=keepdims, mean=mean)
        assert type(got) is np.ndarray and not np.shares_memory(got, g)
        assert (got.dtype, got.shape, got.tobytes()) == (want.dtype, want.shape, want.tobytes())
