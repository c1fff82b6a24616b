"""The dynamic mode's fast paths compute what the general paths do.

Each case below goes through one of the shortcuts that make eager steps cheap (unrolled
dispatch, in-place gradient sums, the heap-ordered backward sweep, unrecorded in-place
kernels, the basic-index shortcut, shared shape records, heap tuning, row-major copies of
weights read transposed) and checks values, memory ownership and errors against numpy or
PyTorch's documented behaviour.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import heap
from tapeflow.dynamic.tape import meta_of


def test_many_gradients_into_one_leaf_add_up() -> None:
    # five uses of x: the third and later gradients are added in place into the sweep's sum
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    loss = (x * 1.0 + x * 2.0 + x * 3.0 + x * 4.0 + x * 5.0).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 15.0))
    loss = (x * 1.0 + x * 2.0 + x * 3.0).sum()
    loss.backward()  # accumulates into the existing .grad
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 21.0))


def test_summed_gradient_reaching_two_leaves_is_copied_for_each() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    z = a + b
    (z * 2.0 + z * 3.0 + z * 4.0).sum().backward()  # z's gradient is a sum made in place
    np.testing.assert_array_equal(a.grad.numpy(), [9.0, 9.0])
    np.testing.assert_array_equal(b.grad.numpy(), [9.0, 9.0])
    assert a.grad.data_ptr() != b.grad.data_ptr()
    with torch.no_grad():
        a.grad.add_(1.0)
    np.testing.assert_array_equal(b.grad.numpy(), [9.0, 9.0])


def test_a_hook_keeps_the_gradient_it_was_shown() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g))
    (x * 2.0 + x * 3.0 + x * 4.0).sum().backward()
    with torch.no_grad():
        x.grad.mul_(0.0)
    np.testing.assert_array_equal(seen[0].numpy(), [9.0, 9.0])


def test_create_graph_sums_are_recorded() -> None:
    x = torch.tensor([2.0], requires_grad=True)
    y = x * x + x * x + x * x  # three gradients reach x, each depending on x
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    assert g.item() == 12.0  # d(3x^2) = 6x
    g.backward()
    assert x.grad.item() == 6.0


def test_a_node_runs_after_every_path_into_it() -> None:
    # a is reached directly and through b and c: the heap must hold it back until all arrive
    x = torch.tensor([0.5, -1.5], requires_grad=True)
    a = x * 2.0
    b = a * 3.0
    c = a + b
    (c * a).sum().backward()
    # c*a = 4a^2 = 16 x^2, d/dx = 32 x
    np.testing.assert_allclose(x.grad.numpy(), 32.0 * np.array([0.5, -1.5]))


class _NoGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return None


def test_nodes_behind_a_missing_gradient_are_freed_too() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # saves its output
    _NoGrad.apply(y).sum().backward()
    assert x.grad is None
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()


def test_nodes_behind_a_missing_gradient_survive_with_retain_graph() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    _NoGrad.apply(y).sum().backward(retain_graph=True)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]))


def test_unrecorded_in_place_update_writes_and_bumps_the_version() -> None:
    p = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    p.grad = torch.ones(3)
    with torch.no_grad():
        p.sub_(p.grad * 0.5)
    np.testing.assert_array_equal(p.detach().numpy(), [0.5, 1.5, 2.5])
    z = p * p  # saves p
    with torch.no_grad():
        p.add_(1.0)  # the kernel writes into p: the version goes up all the same
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    y = (p * 1.0).sigmoid()  # saves its output
    with torch.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_unrecorded_in_place_shape_error_leaves_the_target_alone() -> None:
    t = torch.ones(3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        t.add_(torch.ones(2, 3))
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


def test_in_place_on_a_view_writes_through_to_the_base() -> None:
    base = torch.zeros(2, 3)
    base[1].add_(torch.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(base.numpy(), [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])


def test_an_op_that_returns_its_input_still_gives_a_tensor_of_its_own() -> None:
    from tapeflow.dynamic.dispatch import apply

    t = torch.ones(3)
    u = apply("identity", t)  # the kernel hands back the very same array
    assert u.data_ptr() != t.data_ptr()
    u.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


def test_fast_dispatch_keeps_pytorch_dtypes() -> None:
    half = torch.ones(2, dtype=torch.float32)
    assert (half * 2.0).dtype == torch.float32  # a Python number is a weak scalar
    assert (2.0 - half).dtype == torch.float32
    assert (half + torch.ones(2, dtype=torch.float64)).dtype == torch.float64
    assert (torch.tensor([1, 2]) + half).dtype == torch.float32  # int + float32 -> float32
    assert (half * np.float64(3.0)).dtype == torch.float32  # a numpy scalar is weak too


def test_basic_index_shortcut_matches_numpy() -> None:
    data = np.arange(24.0).reshape(2, 3, 4)
    x = torch.tensor(data)
    np.testing.assert_array_equal(x[:, 1].numpy(), data[:, 1])
    np.testing.assert_array_equal(x[1, :, 2:].numpy(), data[1, :, 2:])
    np.testing.assert_array_equal(x[..., 0].numpy(), data[..., 0])
    assert x[0, 0, 0].shape == torch.Size([])
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    mask = x > 10.0
    np.testing.assert_array_equal(x[mask].numpy(), data[data > 10.0])  # not a basic index


def test_shape_records_are_shared_and_keep_dtype_apart() -> None:
    a, b = np.zeros((2, 3)), np.ones((2, 3))
    assert meta_of(a) is meta_of(b)
    assert meta_of(a.astype(np.float32)).dtype == np.float32
    assert meta_of(a).shape == (2, 3) and meta_of(a).ndim == 2


def test_heap_tuning_can_be_turned_off() -> None:
    assert heap.wanted({"TAPEFLOW_MALLOC_TUNING": "0"}) is False
    assert heap.wanted({"TAPEFLOW_MALLOC_TUNING": "off"}) is False
    glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc") if hasattr(
        os, "confstr") else False
    assert heap.wanted({}) is (glibc and os.sys.platform.startswith("linux"))


def test_heap_tuning_is_an_explicit_call_that_applies_once() -> None:
    import subprocess
    import sys

    # a fresh process: backward() leaves the heap alone, tune_heap() tunes it once
    code = ("import tapeflow.dynamic as torch; from tapeflow.dynamic import heap; "
            "x = torch.ones(2, requires_grad=True); (x * 2.0).sum().backward(); "
            "print(heap.is_tuned(), heap.tune_heap(), heap.tune_heap(), heap.is_tuned())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    applies = str(heap.wanted())
    assert out == ["False", applies, applies, applies]
