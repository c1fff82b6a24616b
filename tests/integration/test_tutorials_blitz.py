"""PyTorch's "Deep Learning with PyTorch: A 60 Minute Blitz" (its tensor and autograd parts),
run with only the import line changed (see test_tutorials.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as torch

# ---- PyTorch: "Deep Learning with PyTorch: A 60 Minute Blitz" (tensors and autograd) ---------


def pytorch_blitz_tensors():
    x = torch.empty(5, 3)
    print(x)
    x = torch.rand(5, 3)
    print(x)
    x = torch.zeros(5, 3, dtype=torch.long)
    print(x)
    x = torch.tensor([5.5, 3])
    print(x)
    x = x.new_ones(5, 3, dtype=torch.double)  # new_* methods take in sizes
    print(x)
    x = torch.randn_like(x, dtype=torch.float)  # override dtype!
    print(x)  # result has the same size
    print(x.size())

    y = torch.rand(5, 3)
    print(x + y)
    print(torch.add(x, y))
    result = torch.empty(5, 3)
    torch.add(x, y, out=result)
    print(result)
    # adds x to y
    y.add_(x)
    print(y)
    print(x[:, 1])
    added = y  # (kept for the test)

    x = torch.randn(4, 4)
    y = x.view(16)
    z = x.view(-1, 8)  # the size -1 is inferred from other dimensions
    print(x.size(), y.size(), z.size())

    x = torch.randn(1)
    print(x)
    print(x.item())

    a = torch.ones(5)
    print(a)
    b = a.numpy()
    print(b)
    a.add_(1)
    print(a)
    print(b)

    a = np.ones(5)
    b = torch.from_numpy(a)
    np.add(a, 1, out=a)
    print(a)
    print(b)

    if torch.cuda.is_available():
        device = torch.device("cuda")  # a CUDA device object
        y = torch.ones_like(x, device=device)  # directly create a tensor on GPU
        x = x.to(device)  # or just use strings ``.to("cuda")``
        z = x + y
        print(z)
        print(z.to("cpu", torch.double))  # ``.to`` can also change dtype together!
    return result, added, b


def pytorch_blitz_autograd():
    x = torch.ones(2, 2, requires_grad=True)
    print(x)
    y = x + 2
    print(y)
    print(y.grad_fn)
    z = y * y * 3
    out = z.mean()
    print(z, out)

    a = torch.randn(2, 2)
    a = ((a * 3) / (a - 1))
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)

    out.backward()
    print(x.grad)
    grad_of_mean = x.grad

    x = torch.randn(3, requires_grad=True)
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    print(y)

    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    print(x.grad)

    print(x.requires_grad)
    print((x ** 2).requires_grad)
    with torch.no_grad():
        print((x ** 2).requires_grad)

    print(x.requires_grad)
    y = x.detach()
    print(y.requires_grad)
    print(x.eq(y).all())
    return grad_of_mean, x, y, v, b


def test_pytorch_blitz_tensors_tutorial_runs():
    torch.manual_seed(0)
    result, y, b = pytorch_blitz_tensors()
    assert result.shape == (5, 3) and torch.allclose(result, y)  # y += x is x + y
    assert b.tolist() == [2.0] * 5  # from_numpy shares memory with the numpy array


def test_pytorch_blitz_autograd_tutorial_gives_its_gradients():
    torch.manual_seed(0)
    grad_of_mean, x, y, v, b = pytorch_blitz_autograd()
    assert grad_of_mean.tolist() == [[4.5, 4.5], [4.5, 4.5]]  # d/dx mean(3 (x+2)^2) at x=1
    # y = x * 2^k: the gradient is v * 2^k, the same factor for every element
    factor = (x.grad / v).tolist()
    assert factor[0] == pytest.approx(factor[1]) == pytest.approx(factor[2])
    assert math.log2(factor[0]) == int(math.log2(factor[0]))
    assert b.grad_fn.name() == "SumBackward0"
