"""The forward pass's shortcuts record and compute what the general paths do.

Cases for the recording plan per op (which inputs need gradients, what their rules read),
the node factory (``tape.new_node``), and the cached 0-d operands that stand in for Python
scalars in a ufunc call: each is checked against numpy or against the fields a node must
have for backward (the engine reads them).
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import dispatch, thread_state
from tapeflow.dynamic.tape import Meta, Node
from tapeflow.runtime import REGISTRY
from tapeflow.runtime.weak_scalars import WEAK

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
    cache = WEAK[np.dtype(np.float32)]
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
    assert type(s.grad_fn) is Node and not s.grad_fn.saved and not s.grad_fn.holds_tensors
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


def _general_path() -> Any:
    """A kernel observer sends every op through the dispatcher's general path."""
    return _Observed()


class _Observed:
    def __enter__(self) -> None:
        thread_state.add_observer(_ignore)

    def __exit__(self, *exc: object) -> None:
        thread_state.remove_observer(_ignore)


def _ignore(event: str, what: Any) -> None:
    pass


def _node_summary(t: Any, leaves: tuple[Any, ...]) -> Any:
    def ident(x: Any) -> Any:
        # the leaves by position; anything made in the call (b.transpose(0, 1)) by what it is
        if x is None or type(x) is Meta:
            return x if x is None else ("meta", x.shape, x.dtype)
        if any(x is leaf for leaf in leaves):
            return ("leaf", [x is leaf for leaf in leaves].index(True))
        if hasattr(x, "_vc"):
            return ("tensor", x.shape, x.grad_fn and x.grad_fn.name())
        return ("node", x.name()) if hasattr(x, "name") else ("value", x)

    fn = t.grad_fn
    if fn is None:
        return None
    return (fn.name(), fn.needed, tuple(ident(e) for e in fn.next),
            tuple(ident(x) for x in fn.inputs), [(ident(x), v) for x, v in fn.saved],
            fn.holds_tensors, fn.ans_ref is not None, fn.out_shape, fn.out_dtype)


BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
          lambda a, b: a ** b, lambda a, b: a @ b.transpose(0, 1), lambda a, b: a.pow(b),
          lambda a, b: a * 2.0, lambda a, b: 2.0 * a, lambda a, b: 1 - b, lambda a, b: a / 3,
          lambda a, b: 3 / b, lambda a, b: 2 ** a, lambda a, b: a ** 2, lambda a, b: a + 0.1,
          lambda a, b: a.sum(1), lambda a, b: a.mean(0, keepdim=True),
          lambda a, b: a.sum((0, 1)), lambda a, b: a.mean([1]) * b.sum()]
UNARY = ["exp", "log", "sqrt", "sin", "log1p", "expm1", "cos", "abs", "neg", "sign",
         "sigmoid", "tanh", "relu", "sum", "mean"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_operator_fast_paths_record_what_the_general_path_records(dtype: type) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0.5, 2.0, (3, 4)).astype(dtype)
    for index, fn in enumerate(BINARY + [lambda a, b, n=n: getattr(a, n)() for n in UNARY]):
        for needs in ((True, True), (True, False), (False, True), (False, False)):
            a = torch.tensor(values, requires_grad=needs[0])
            b = torch.tensor(values[::-1].copy(), requires_grad=needs[1])
            fast = fn(a, b)
            with _general_path():
                general = fn(a, b)
            assert fast.detach().numpy().tobytes() == general.detach().numpy().tobytes()
            assert fast.dtype == general.dtype and fast.requires_grad == general.requires_grad
            assert _node_summary(fast, (a, b)) == _node_summary(general, (a, b)), (
                index, needs)
            if fast.requires_grad:
                grads = []
                for out in (fast, general):
                    a.grad = b.grad = None
                    out.sum().backward()
                    grads.append([t.grad.numpy().tobytes() if t.grad is not None else None
                                  for t in (a, b)])
                assert grads[0] == grads[1], (index, needs)


def test_the_fast_paths_step_aside_for_what_they_do_not_handle() -> None:
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    assert (x + torch.tensor([[1, 2]])).dtype == torch.float32  # mixed dtypes: promotion
    assert (x.double() * x).dtype == torch.float64
    with pytest.raises(RuntimeError, match=r"\(1, 2\).*\(3,\)|1, 2.*3"):
        x + torch.ones(3)  # the registry's shape error, naming both shapes
    v = torch.tensor([1.0, 2.0], requires_grad=True)
    assert (v @ v).shape == () and (x @ v).shape == (1,)  # vectors: PyTorch's matmul
    assert (x * np.float32(2.0)).tolist() == [[2.0, 4.0]]  # a numpy scalar operand
    assert (torch.tensor([1, 2]) * 2).dtype == torch.int64  # an integer tensor
    with torch.autograd.detect_anomaly():
        y = x * 2.0
    assert y.grad_fn.name() == "MulBackward0"
    with torch.no_grad():
        assert (x * 2.0).grad_fn is None and not (x.exp()).requires_grad


@pytest.mark.parametrize("switch", ["1", "0"])
def test_tune_heap_raises_the_middle_gc_threshold_unless_switched_off(switch: str) -> None:
    import os
    import subprocess
    import sys

    code = ("import gc; import tapeflow.dynamic as torch; from tapeflow.dynamic import heap; "
            "before = gc.get_threshold(); heap.tune_heap(); heap.tune_heap(); "
            "print(before, gc.get_threshold())")
    env = {**os.environ, "TAPEFLOW_MALLOC_TUNING": switch}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.strip()
    default = (700, 10, 10)  # Python's, in a fresh process
    expected = (700, 100, 10) if switch == "1" else default
    assert out == f"{default} {expected}"


def test_docstring_examples_run() -> None:
    import doctest

    from tapeflow.dynamic import fast_ops, heap
    from tapeflow.runtime import weak_scalars

    for module in (fast_ops, weak_scalars, heap):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
