"""The forward pass's shortcuts record and compute what the general paths do.

Cases for the recording plan per op (which inputs need gradients, what their rules read),
the node factory (``tape.new_node``), and the cached 0-d operands that stand in for Python
scalars in a ufunc call: each is checked against numpy or against the fields a node must
have for backward (the engine reads them).
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import dispatch
from tapeflow.dynamic.tape import Meta, Node
from tapeflow.runtime import REGISTRY

#: the registry's two-input ops whose kernel is one ufunc (matmul takes no scalars)
UFUNC_OPS = sorted(name for name, op in REGISTRY.items()
                   if op.ufunc and op.arity == 2 and name != "matmul")
SCALARS = [2.0, 2, 0.5, -1, 3, 1e-3, 0.1, 1 / 3, 16777217, 1e300, -0.0, 0.0, 0,
           float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", UFUNC_OPS)
def test_a_python_scalar_operand_computes_what_numpy_computes(name: str, dtype: type) -> None:
    ufunc = getattr(np, REGISTRY[name].ufunc)
    array = np.array([[0.5, -2.0, 3.0], [7.0, -0.0, 1e-3]], dtype=dtype)
    x = torch.from_numpy(array)
    for value in SCALARS:
        for first in (False, True):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                expected = ufunc(value, array) if first else ufunc(array, value)
                for _ in range(2):  # the second call finds the operand cached
                    got = dispatch.apply(name, value, x) if first else dispatch.apply(
                        name, x, value)
                    assert got.numpy().dtype == expected.dtype, (name, value, first)
                    assert got.numpy().tobytes() == expected.tobytes(), (name, value, first)


def test_only_exact_nonzero_numbers_are_cached_and_the_cache_is_read_only() -> None:
    x = torch.ones(3)
    with np.errstate(over="ignore"):  # (1e300 overflows float32, as numpy warns)
        for value in (0.1, 16777217, 1e300, -0.0, float("nan"), 2.5, 4):
            x * value
    cache = dispatch._WEAK[np.dtype(np.float32)]
    assert type(cache[2.5]) is np.ndarray and type(cache[4]) is np.ndarray
    assert not cache[2.5].flags.writeable and cache[2.5].shape == ()
    assert cache[0.1] == 0.1 and type(cache[0.1]) is float  # inexact: stays a Python float
    assert type(cache[16777217]) is int and type(cache[1e300]) is float
    assert 0 not in cache and all(k == k for k in cache)  # no zero (nor -0.0), no NaN
    # -0.0 keeps its sign: it is never swapped for a cached 0.0
    assert np.signbit((torch.ones(2) * -0.0).numpy()).all()


def test_a_scalar_operand_keeps_the_python_number_on_the_node() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = 2.0 * x
    assert y.grad_fn.inputs[0] == 2.0 and type(y.grad_fn.inputs[0]) is float
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_nodes_keep_what_their_rules_read_and_metas_for_the_rest() -> None:
    a = torch.tensor([[1.0, 2.0]], requires_grad=True)
    b = torch.tensor([[3.0], [4.0]])
    w = torch.tensor([[0.5, 0.25]], requires_grad=True)
    s = a + w  # add reads nothing: two Metas
    assert type(s.grad_fn) is Node and s.grad_fn.saved == () and not s.grad_fn.holds_tensors
    assert all(type(m) is Meta and m.shape == (1, 2) for m in s.grad_fn.inputs)
    assert s.grad_fn.next == (a, w) and s.grad_fn.needed == (True, True)
    m = a @ b  # only a needs a gradient: its rule reads b, b's rule (not run) would read a
    assert m.grad_fn.needed == (True, False) and m.grad_fn.next == (a, None)
    assert m.grad_fn.inputs[1] is b and type(m.grad_fn.inputs[0]) is Meta
    assert m.grad_fn.saved == [(b, 0)] and m.grad_fn.holds_tensors
    e = s.exp()  # exp reads its output
    node = e.grad_fn
    assert node.ans_ref() is e and node.ans_array is e._array and node.ans_vc is e._vc
    assert node.ans_version == 0 and node.next == (s.grad_fn,) and node.needed == (True,)
    assert node.out_shape == (1, 2) and node.out_dtype == np.float32 and not node.freed
    assert s.grad_fn.seq < m.grad_fn.seq < node.seq
    total = a.sum()
    p = b.pow(total)  # the exponent's rule reads the output and the base
    assert p.grad_fn.needed == (False, True) and p.grad_fn.next == (None, total.grad_fn)
    assert p.grad_fn.ans_ref() is p and p.grad_fn.saved == [(b, 0)]


def test_an_unread_input_does_not_stay_alive() -> None:
    a = torch.ones(1000, requires_grad=True)
    big = a * 1.0
    ref = __import__("weakref").ref(big)
    out = big + a  # add keeps shape and dtype only
    del big
    gc.collect()
    assert ref() is None
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(1000, 2.0))


def test_an_op_with_inputs_of_no_rule_records_only_the_others() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    picked = x[torch.tensor([1, 0])]  # take: the indices have no gradient rule
    assert picked.grad_fn.needed == (True, False)
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 2)))
    # a variadic op takes the general path and still records every input
    c = torch.cat([x, x, x])
    c.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 4.0))


def test_in_place_recording_saves_the_old_value_when_its_rule_reads_it() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    y.mul_(x)  # mul's rule for y reads x, for x reads old y: the old value is copied
    node = y.grad_fn
    assert node.needed == (True, True) and node.holds_tensors
    assert node.inputs[0] is not y and node.inputs[0]._array.tolist() == [1.0, 2.0]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # d(x * x) = 2x
