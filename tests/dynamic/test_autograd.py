"""tapeflow.dynamic autograd: the tape, backward, its errors, hooks, grad, custom Functions."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import tapeflow.dynamic as torch

rng = np.random.default_rng(0)


def leaf(*shape: int, low: float = -1.0, high: float = 1.0):
    return torch.tensor(rng.uniform(low, high, size=shape), requires_grad=True)


def numeric_grad(fn, inputs, index, eps=1e-6):
    """d fn / d inputs[index] by central differences, in float64."""
    base = [x.detach().numpy().copy() for x in inputs]
    grad = np.zeros_like(base[index])
    for pos in np.ndindex(grad.shape):
        values = []
        for sign in (1, -1):
            shifted = [b.copy() for b in base]
            shifted[index][pos] += sign * eps
            values.append(fn(*[torch.tensor(s) for s in shifted]).item())
        grad[pos] = (values[0] - values[1]) / (2 * eps)
    return grad


COMPOSITES = {
    "mlp": (lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(), [(4, 3), (3, 2), (2,)]),
    "broadcast": (lambda a, b: (a * b - b / (a.abs() + 1)).sum(), [(2, 3), (3,)]),
    "softmax_ce": (lambda z: -(z.log_softmax(1) * torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])).sum(),
                   [(2, 3)]),
    "views": (lambda x: (x.t()[1:] * x.view(-1)[:4].view(2, 2)).sum()
              + x.unsqueeze(0).expand(3, 2, 3).sum(), [(2, 3)]),
    "index_cat": (lambda x, y: (torch.cat([x[0], y[:, 1]]).sigmoid()
                                * torch.stack([x[1], x[1]]).sum()).sum(), [(2, 3), (2, 2)]),
    "reductions": (lambda x: x.max(dim=1).values.sum() + x.min() + x.mean(0).exp().sum(),
                   [(3, 4)]),
    "reuse": (lambda x: (x * x * x).sum() + (x.sqrt() if False else x.clamp(-0.5, 0.5)).sum(),
              [(5,)]),
    "gather_mask": (lambda x: x[torch.tensor([2, 0, 2])].sum()
                    + (x[x > 0] ** 2).sum() + x.masked_fill(x < 0, 0.0).relu().sum(), [(4,)]),
    "rnn_step": (lambda x, h, w: (x @ w + h).tanh().sum(1).pow(2).mean(), [(3, 2), (3, 2), (2, 2)]),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_expressions_match_finite_differences(name):
    fn, shapes = COMPOSITES[name]
    inputs = [torch.tensor(rng.uniform(-1, 1, size=s), requires_grad=True) for s in shapes]
    fn(*inputs).backward()
    for i, x in enumerate(inputs):
        expected = numeric_grad(fn, inputs, i)
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name}: input {i}")
        assert x.grad.dtype is torch.float64 and x.grad.shape == x.shape


def test_recording_rules():
    w = torch.ones(2, requires_grad=True)
    c = torch.ones(2)
    assert (c * 2).grad_fn is None and not (c * 2).requires_grad
    y = w * c
    assert y.requires_grad and y.grad_fn.name() == "MulBackward0" and not y.is_leaf
    assert (w > 0).grad_fn is None and not w.argmax().requires_grad
    with torch.no_grad():
        assert not (w * 2).requires_grad and not torch.is_grad_enabled()
        with torch.enable_grad():
            assert (w * 2).requires_grad
    assert torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    assert not (w * 2).requires_grad
    torch.set_grad_enabled(True)
    with torch.set_grad_enabled(False):
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()

    @torch.no_grad()
    def frozen():
        return w * 3

    assert not frozen().requires_grad
    d = y.detach()
    assert not d.requires_grad and d.storage().data_ptr() == y.storage().data_ptr()


def test_grad_fn_graph_for_visualisers():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    loss = (a * b + a).sum()
    add = loss.grad_fn.next_functions[0][0]
    assert loss.grad_fn.name() == "SumBackward0" and add.name() == "AddBackward0"
    mul, acc_a = add.next_functions[0][0], add.next_functions[1][0]
    assert mul.name() == "MulBackward0" and mul.op_name == "mul"
    assert acc_a.name() == "torch::autograd::AccumulateGrad" and acc_a.variable is a
    assert mul.next_functions[0][0] is acc_a  # one AccumulateGrad per leaf
    assert {id(t) for t in mul.saved_tensors} == {id(a), id(b)}
    assert (a * 2).grad_fn.next_functions[1] == (None, 0)
    s = a.sigmoid()
    assert s.grad_fn.saved_tensors[0] is s  # sigmoid saves its output, as PyTorch does


def test_backward_accumulates_and_zero_grad():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * w).sum().backward()
    assert w.grad.tolist() == [5.0, 7.0]
    w.grad = None
    (w * 3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0]


def test_shared_subexpressions_and_broadcasting():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = torch.tensor([1.0, -1.0], requires_grad=True)
    y = x + b
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (x.detach().numpy() + b.detach().numpy()))
    total = 2 * (x.detach().numpy() + b.detach().numpy())
    np.testing.assert_allclose(b.grad.numpy(), total.sum(0))


def test_explicit_gradient_and_non_scalar_error():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()
    (x * 2).backward(torch.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(torch.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.ones(2).sum().backward()


def test_second_backward_through_freed_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    z = (x.exp()).sum()
    z.backward(retain_graph=True)
    z.backward()  # retained once: a second sweep is fine
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        _ = z.grad_fn.next_functions[0][0].saved_tensors
    # a graph that saved nothing (sums of sums) can be walked again, as in PyTorch
    s = (x + 1).sum()
    s.backward()
    s.backward()


def test_inplace_change_of_saved_tensor_is_caught():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 1
    s = a.sigmoid()
    s.mul_(2)
    with pytest.raises(RuntimeError) as info:
        s.sum().backward()
    text = str(info.value)
    assert "modified by an inplace operation" in text and "SigmoidBackward0" in text
    assert "is at version 1; expected version 0" in text and "torch.FloatTensor [3]" in text
    m = torch.ones(3, 4) * 1
    w = torch.ones(3, 4, requires_grad=True)
    p = w * m  # saves m for w's gradient
    m.add_(1)
    m.add_(1)
    with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[3, 4\]\] is at version 2; "
                                           r"expected version 0 instead"):
        p.sum().backward()
    # an in-place change of something no rule reads is fine (PyTorch agrees)
    q = x * 2
    q += 1
    q.sum().backward()


def test_inplace_on_leaf_requiring_grad():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        w[0].mul_(2)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 3.0
    with torch.no_grad():
        w.sub_(0.5)
        w[1] = 4.0
    assert w.tolist() == [0.5, 4.0] and w.requires_grad and w.is_leaf


def test_inplace_ops_are_recorded_on_non_leaves():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y = w * 1
    y.mul_(3)
    y.add_(w)
    assert y.grad_fn.name() == "AddBackward0"
    y.sum().backward()
    assert w.grad.tolist() == [4.0, 4.0]
    v = torch.tensor([5.0, 6.0], requires_grad=True)
    buf = torch.zeros(3, 2)
    buf[1] = v
    buf.copy_(buf * 2)
    (buf * torch.arange(6.0).view(3, 2)).sum().backward()
    assert v.grad.tolist() == [4.0, 6.0]


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        torch.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        torch.tensor([1, 2]).requires_grad_()
    y = torch.ones(1, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert torch.zeros(2).requires_grad_().requires_grad


def test_failed_backward_leaves_every_grad_unchanged():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    v = torch.tensor([3.0], requires_grad=True)
    (w.sum() + v.sum()).backward()
    before = (w.grad.tolist(), v.grad.tolist())
    bad = (w * 2).exp()
    bad.add_(1)  # exp saved its output: backward through it must fail
    with pytest.raises(RuntimeError, match="inplace"):
        ((v * 5).sum() + bad.sum()).backward()
    assert (w.grad.tolist(), v.grad.tolist()) == before


def test_long_chain_backward_is_iterative():
    x = torch.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_backward_frees_saved_tensors():
    x = torch.ones(1000, requires_grad=True)
    h = x * 2
    s = h.tanh()  # saves its output
    loss = (s * h).sum()  # saves s and h
    ref_h, ref_s = weakref.ref(h), weakref.ref(s)
    del h, s
    gc.collect()
    assert ref_h() is not None and ref_s() is not None  # the tape keeps them for backward
    loss.backward()
    gc.collect()
    assert ref_h() is None and ref_s() is None


def test_retain_graph_keeps_saved_tensors():
    x = torch.ones(3, requires_grad=True)
    h = x * 2
    loss = (h * h).sum()
    ref = weakref.ref(h)
    del h
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None


def test_hooks():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_hook(lambda g: seen.append(g.tolist()))
    (w * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 1
    w.grad = None
    w.register_hook(lambda g: g * 10)
    (w * 1).sum().backward()
    assert w.grad.tolist() == [10.0, 10.0]
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    m = x * 2
    m.register_hook(lambda g: g * 0)  # a hook on a non-leaf changes what flows on
    (m * m).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    r = x * 3
    r.retain_grad()
    (r * r).sum().backward()
    assert r.grad.tolist() == [6.0, 12.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(1).register_hook(lambda g: g)


def test_autograd_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0], requires_grad=True)
    z = (x * y).sum()
    gx, gy = torch.autograd.grad(z, (x, y))
    assert gx.tolist() == [3.0, 4.0] and gy.tolist() == [1.0, 2.0]
    assert x.grad is None and y.grad is None  # grad() does not accumulate
    h = x * x
    (gh,) = torch.autograd.grad((h * 3).sum(), h)  # a non-leaf input
    assert gh.tolist() == [3.0, 3.0]
    (gv,) = torch.autograd.grad(x * 2, x, grad_outputs=torch.tensor([1.0, 5.0]))
    assert gv.tolist() == [2.0, 10.0]
    unused = torch.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        torch.autograd.grad((x * 2).sum(), [x, unused])
    assert torch.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None


def test_double_backward_with_create_graph():
    x = torch.tensor(2.0, requires_grad=True)
    (g,) = torch.autograd.grad(x ** 3, x, create_graph=True)
    assert g.item() == 12.0 and g.requires_grad
    (g2,) = torch.autograd.grad(g, x)
    assert g2.item() == 12.0  # d2/dx2 x^3 = 6x
    y = torch.tensor([0.5], requires_grad=True)
    (gs,) = torch.autograd.grad(y.sigmoid().sum(), y, create_graph=True)
    gs.sum().backward()
    s = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(y.grad.item(), s * (1 - s) * (1 - 2 * s), rtol=1e-5)


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x ** 3 * scale

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 3 * x * x * ctx.scale * grad_output, None


def test_custom_function():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.tolist() == [2.0, 16.0] and y.grad_fn.name() == "CubeBackward"
    (y * 1).sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]
    with torch.no_grad():
        assert not Cube.apply(x, 1.0).requires_grad
    z = x * 1
    out = Cube.apply(z, 1.0)
    z.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_old_tutorial_idioms():
    from tapeflow.dynamic.autograd import Variable

    w = Variable(torch.tensor([1.0, 2.0]), requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    w.data -= 0.5 * w.grad.data  # the pre-optimizer update idiom
    w.grad.data.zero_()
    assert w.tolist() == [0.0, 0.0] and w.grad.tolist() == [0.0, 0.0]
    assert w.requires_grad and w.is_leaf
    w.data = torch.tensor([3.0, 4.0])
    assert w.tolist() == [3.0, 4.0] and w.requires_grad


def test_tape_keeps_only_what_rules_read():
    x = torch.ones(1000, requires_grad=True)
    a = x * 2  # mul by a scalar reads nothing of x's for x's gradient
    b = a + 1  # add reads neither input
    ref = weakref.ref(a)
    del a
    gc.collect()
    assert ref() is None  # freed before backward, as PyTorch frees it
    b.sum().backward()
    assert x.grad.tolist() == [2.0] * 1000


def test_each_leaf_gets_a_grad_of_its_own():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    (a + b).sum().backward()  # add passes the same gradient to both inputs
    a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0]
    v = torch.tensor([3.0, 4.0])
    a.grad = None
    a.backward(v)
    v.zero_()
    assert a.grad.tolist() == [3.0, 4.0]


def test_inplace_on_a_slice_of_a_recorded_tensor():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = w * 1
    h[0].mul_(3)  # a view of h: recorded as a write back into h (PyTorch's CopySlices)
    h[:, 1] += w[:, 0]
    assert h.tolist() == [[3.0, 7.0], [3.0, 7.0]]
    (h * torch.tensor([[1.0, 10.0], [100.0, 1000.0]])).sum().backward()
    # h00 = 3 w00, h01 = 3 w01 + w00, h10 = w10, h11 = w11 + w10
    assert w.grad.tolist() == [[13.0, 30.0], [1100.0, 1000.0]]
    buf = torch.zeros(2, 2)
    v = torch.tensor([1.0, 2.0], requires_grad=True)
    buf[1].add_(v)
    (buf * 3).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="not supported"):
        (w * 1).t().mul_(2)


def test_backward_inputs_and_bare_no_grad_decorator():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    h = a * 3
    (h * b).sum().backward(inputs=[b, h])
    assert a.grad is None and b.grad.tolist() == [3.0, 3.0] and h.grad.tolist() == [1.0, 1.0]

    @torch.no_grad
    def frozen(x):
        return x * 2

    assert not frozen(a).requires_grad and torch.is_grad_enabled()
