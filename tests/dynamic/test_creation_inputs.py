"""Creation ops refuse what PyTorch refuses (issue 18, item 13), checked against torch itself.

Sizes must be integers (2.0 and True are refused, not truncated), Python values must fit
an integer dtype, ``from_numpy`` shares memory so a big-endian array is an error, and a
tensor has at most 64 dimensions (numpy's limit; a clear error naming the op).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as tapeflow_torch

# (label, call on a torch-like module, the exception tapeflow raises)
MISTAKES: list[tuple[str, Callable[[Any], Any], type[BaseException]]] = [
    ("zeros(2.5, 2)", lambda t: t.zeros(2.5, 2), TypeError),
    ("ones((2.0, 3))", lambda t: t.ones((2.0, 3)), TypeError),
    ("zeros((True, 2))", lambda t: t.zeros((True, 2)), TypeError),
    ("full((2.0, 2), 1.0)", lambda t: t.full((2.0, 2), 1.0), TypeError),
    ("randn(2.5)", lambda t: t.randn(2.5), TypeError),
    ("empty(2.5)", lambda t: t.empty(2.5), TypeError),
    ("reshape((2.0, 2))", lambda t: t.arange(4).reshape((2.0, 2)), TypeError),
    ("tensor([2**40], int32)", lambda t: t.tensor([2**40], dtype=t.int32), RuntimeError),
    ("tensor(2**31, int32)", lambda t: t.tensor(2**31, dtype=t.int32), RuntimeError),
    ("tensor([256], uint8)", lambda t: t.tensor([256], dtype=t.uint8), RuntimeError),
    ("tensor([128], int8)", lambda t: t.tensor([128], dtype=t.int8), RuntimeError),
    ("tensor([1.5, 2**40], int32)", lambda t: t.tensor([1.5, 2**40], dtype=t.int32),
     RuntimeError),
    ("full((2,), 2**40, int32)", lambda t: t.full((2,), 2**40, dtype=t.int32), RuntimeError),
    ("from_numpy(>f4)", lambda t: t.from_numpy(np.arange(3, dtype=">f4")), ValueError),
]


@pytest.mark.parametrize(("label", "call", "error"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_tapeflow_refuses_with_the_error_torch_raises(label: str, call: Callable[[Any], Any],
                                                      error: type[BaseException]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(error):
        call(tapeflow_torch)
    with pytest.raises(error):  # the reference raises the same class
        call(torch)


def test_what_torch_accepts_is_accepted_with_the_same_values() -> None:
    torch = pytest.importorskip("torch")
    for call in (lambda t: t.zeros(np.int64(2), 3), lambda t: t.zeros(t.tensor(2), 3),
                 lambda t: t.tensor([-1, -129, 255], dtype=t.uint8),
                 lambda t: t.tensor([2**31 - 1, -(2**31)], dtype=t.int32),
                 lambda t: t.tensor([1.9, -1.9], dtype=t.int32),
                 lambda t: t.tensor([0.1, 2**53 + 1], dtype=t.float64),
                 lambda t: t.tensor([[0.1]]), lambda t: t.tensor([True, False], dtype=t.int8)):
        ours, theirs = call(tapeflow_torch), call(torch)
        assert ours.tolist() == theirs.tolist()
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]


def test_float64_data_keeps_its_precision() -> None:
    # the data used to pass through float32 on its way to float64
    assert tapeflow_torch.tensor([0.1], dtype=tapeflow_torch.float64).item() == 0.1


def test_the_rank_limit_names_the_op() -> None:
    assert tapeflow_torch.zeros([1] * 64).dim() == 64
    with pytest.raises(ValueError, match=r"zeros\(\).*at most 64 dimensions.*has 65"):
        tapeflow_torch.zeros([1] * 65)
    with pytest.raises(ValueError, match="at most 64 dimensions"):
        tapeflow_torch.ones(1).reshape([1] * 65)


def test_from_numpy_shares_memory_and_names_unsupported_dtypes() -> None:
    array = np.arange(3, dtype="<f4")
    tapeflow_torch.from_numpy(array)[0] = 7
    assert array[0] == 7
    with pytest.raises(TypeError, match="can't convert np.ndarray of type complex64"):
        tapeflow_torch.from_numpy(np.zeros(2, np.complex64))
    swapped = np.arange(3, dtype=">f4")  # torch.tensor copies, so it takes either order
    assert tapeflow_torch.tensor(swapped).tolist() == [0.0, 1.0, 2.0]
