"""The shortcuts of issue 25's second round compute and record what the general paths do.

* ``x[i]`` / ``x[:, t]`` on a numpy tensor indexes at once (``fast_ops.basic_index``): the
  same view, version counter, node and errors as the getitem op through the dispatcher,
  which an observer forces.
* An op that promotes nothing, given numpy arrays of different dtypes (logits and integer
  labels), runs its kernel without ``evaluate``'s preparation: the same result and errors.
* ``cross_entropy`` leaves the label check to the op's kernel on numpy and raises
  PyTorch's IndexError only once the kernel refused the labels.
* ``SGD.step`` without momentum updates the arrays of every parameter in one
  uninterruptible loop, after computing every update: all parameters or none.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import dispatch, optim_stores, thread_state
from tapeflow.runtime import REGISTRY, evaluate


@contextmanager
def general_path() -> Iterator[None]:
    """An observer makes every op take the dispatcher's general path."""
    def observe(event: str, what: Any) -> None:
        pass

    thread_state.add_observer(observe)
    try:
        yield
    finally:
        thread_state.remove_observer(observe)


INDICES = [(slice(None), 3), 0, -1, slice(1, 3), (0, 2), (Ellipsis, 1), (None, 1),
           (slice(None, None, 2), slice(1, None)), (1, Ellipsis, None), ()]


@pytest.mark.parametrize("index", INDICES, ids=repr)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_basic_indexing_matches_the_general_path(index: Any, requires_grad: bool) -> None:
    array = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    results = []
    for general in (False, True):
        x = torch.tensor(array, requires_grad=requires_grad)
        if general:
            with general_path():
                y = x[index]
        else:
            y = x[index]
        assert y._base is x and y._vc is x._vc  # a view of x, sharing its version counter
        assert np.shares_memory(y._array, x._array)
        grads = None
        if requires_grad:
            (y * y).sum().backward()
            grads = x.grad.numpy().tobytes()
        results.append((y._array.shape, y._array.strides, y.detach().numpy().tobytes(),
                        y.grad_fn.name() if y.grad_fn else None, y._view_index, grads))
    assert results[0] == results[1]


def test_a_view_of_a_view_and_an_integer_tensor_index_as_before() -> None:
    x = torch.arange(24).reshape(4, 6).clone()
    row = x[1]
    assert row._base is x and row[2].item() == 8 and row[2]._base is x
    assert row._view_index is not None and row[2]._view_index is None  # (set on x's views)
    assert x[0, 1].shape == () and x[0, 1]._array.base is not None  # a 0-d view, no scalar


@pytest.mark.parametrize(("index", "error"), [((5,), RuntimeError), ((0, 7), RuntimeError),
                                              ((0, 0, 0), RuntimeError),
                                              ((slice(None, None, -1),), ValueError)])
def test_bad_basic_indices_raise_what_the_general_path_raises(index: Any, error: type) -> None:
    x = torch.ones(3, 4)
    with pytest.raises(error) as fast:
        x[index]
    with general_path(), pytest.raises(error) as slow:
        x[index]
    assert str(fast.value) == str(slow.value)


def test_an_op_that_promotes_nothing_runs_its_kernel_on_mixed_dtypes_as_evaluate_does() -> None:
    op = REGISTRY["sparse_softmax_cross_entropy"]
    logits = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0, 2])
    got = dispatch._run(op, [logits, labels], {})
    assert got.tobytes() == evaluate(op, [logits, labels], {}).tobytes()
    with pytest.raises(dispatch.TensorShapeError, match="label value of 3"):
        dispatch._run(op, [logits, np.array([0, 3, 1, 1, 0, 2])], {})


def test_cross_entropy_checks_labels_once_and_raises_pytorchs_error() -> None:
    F = torch.nn.functional
    logits = torch.tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32),
                          requires_grad=True)
    loss = F.cross_entropy(logits, torch.tensor([0, 2, 1, 2]))
    shifted = logits.detach().numpy() - logits.detach().numpy().max(1, keepdims=True)
    per_row = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(4), [0, 2, 1, 2]]
    assert loss.item() == pytest.approx(float(per_row.mean()), rel=1e-6)
    for bad, named in (([0, 3, 1, 2], 3), ([0, -1, 1, 2], -1), ([7, -1, 1, 2], 7)):
        with pytest.raises(IndexError, match=f"^Target {named} is out of bounds.$") as caught:
            F.cross_entropy(logits, torch.tensor(bad))
        assert caught.value.__suppress_context__  # PyTorch's error alone, not the kernel's
    with pytest.raises(RuntimeError, match="expected target of shape"):
        F.cross_entropy(logits, torch.tensor([0, 1]))
    # logits as a plain array, as before: the same loss
    plain = F.cross_entropy(logits.detach().numpy(), torch.tensor([0, 2, 1, 2]))
    assert plain.item() == loss.item()


@pytest.mark.filterwarnings("ignore:optimizer contains a parameter group with duplicate")
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_sgd_on_arrays_matches_the_tensor_path_with_a_parameter_listed_twice(
        decay: float) -> None:
    # twice in one group (PyTorch warns and keeps both): with decay the second update
    # reads what the first wrote, on either path
    rng = np.random.default_rng(2)
    start = rng.standard_normal((2, 3)).astype(np.float32)
    grad = rng.standard_normal((2, 3)).astype(np.float32)
    runs = []
    for general in (False, True):
        w = torch.tensor(start, requires_grad=True)
        w.grad = torch.tensor(grad)
        params: Any = [w, w]
        with general_path() if general else nullcontext():
            torch.optim.SGD(params, lr=0.25, weight_decay=decay).step()
        assert w._vc[0] == 2
        runs.append(w.detach().numpy().tobytes())
    assert runs[0] == runs[1]


def test_sgd_writes_nothing_on_arrays_when_one_parameter_needs_the_tensor_path() -> None:
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, dtype=torch.float64, requires_grad=True)
    a.grad = torch.full((2,), 2.0)
    b.grad = torch.full((2,), 2.0, dtype=torch.float32)  # (another dtype than b)
    assert not optim_stores.sgd_on_arrays([{"params": [a, b], "lr": 0.5, "momentum": 0.0,
                                           "weight_decay": 0.0}])
    assert a.tolist() == [1.0, 1.0] and a._vc[0] == 0  # refused before any write
    torch.optim.SGD([a, b], lr=0.5).step()  # the general path takes both
    assert a.tolist() == [0.0, 0.0] and b.tolist() == [0.0, 0.0]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_ctrl_c_in_the_middle_of_sgd_on_arrays_lands_after_every_parameter_is_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    params = [torch.ones(3, requires_grad=True) for _ in range(3)]
    for p in params:
        p.grad = torch.full((3,), 4.0)
    real = optim_stores.ARRAYS.subtract
    calls = []

    def subtract_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = real(*args, **kwargs)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first parameter's write
        return result

    monkeypatch.setattr(optim_stores.ARRAYS, "subtract", subtract_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        torch.optim.SGD(params, lr=0.25).step()
    assert len(calls) == 3
    assert [p.tolist() for p in params] == [[0.0, 0.0, 0.0]] * 3
    assert [p._vc[0] for p in params] == [1, 1, 1]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
@pytest.mark.parametrize(("name", "options"), [("SGD", {"lr": 0.5, "momentum": 0.9}),
                                               ("Adam", {"lr": 0.1}), ("RMSprop", {"lr": 0.1})])
def test_ctrl_c_in_the_middle_of_any_step_lands_after_every_parameter_is_updated(
        monkeypatch: pytest.MonkeyPatch, name: str, options: dict[str, Any]) -> None:
    def run(interrupt: bool) -> list[Any]:
        params = [torch.ones(3, requires_grad=True) for _ in range(3)]
        for p in params:
            p.grad = torch.full((3,), 4.0)
        real = optim_stores._Arrays.subtract
        calls = []

        def subtract_then_interrupt(param: Any, amount: Any) -> None:
            calls.append(1)
            real(param, amount)
            if interrupt and len(calls) == 1:
                signal.raise_signal(signal.SIGINT)

        monkeypatch.setattr(optim_stores._Arrays, "subtract",
                            staticmethod(subtract_then_interrupt))
        opt = getattr(torch.optim, name)(params, **options)
        if interrupt:
            with pytest.raises(KeyboardInterrupt):
                opt.step()
        else:
            opt.step()
        assert len(calls) == 3
        return [p.tolist() for p in params]

    assert run(True) == run(False)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (251,)])
def test_sigmoid_and_its_gradients_with_cached_constants_keep_their_bits(
        dtype: Any, shape: tuple[int, ...]) -> None:
    # the kernels compute with 1 and 0.5 as 0-d arrays of the dtype (runtime/ops_elementwise
    # _one_half): the same bits as with the Python numbers, specials included
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.standard_normal(240) * 10.0 ** rng.integers(-8, 3, 240),
                             [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 7.0, -7.0,
                              0.5, 1e-3]])
    with np.errstate(all="ignore"):  # (1e30 overflows float16 to inf, as intended)
        x = values.astype(dtype) if shape else np.asarray(values[5], dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        expected_s = np.multiply(x, 0.5, out=np.empty_like(x))
        np.tanh(expected_s, out=expected_s)
        expected_s += 1
        expected_s *= 0.5
        s = REGISTRY["sigmoid"].kernel(np, x)
        t = np.tanh(x)
        pairs = [(s, expected_s),
                 (REGISTRY["tanh_grad"].kernel(np, g, t), g * (1.0 - t * t)),
                 (REGISTRY["sigmoid_grad"].kernel(np, g, s), g * (s * (1.0 - s)))]
    for got, expected in pairs:
        got, expected = np.asarray(got), np.asarray(expected)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


def test_a_parameter_in_two_groups_is_refused_as_pytorch_does() -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        torch.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        assert len(torch.optim.SGD([w, w], lr=0.1).param_groups[0]["params"]) == 2
