"""The activations and losses of issue 21 against PyTorch 2.13: values and gradients in
float64, kinks included (gradients at 0 and at hardtanh's bounds are PyTorch's)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tapeflow.dynamic as tt

real = pytest.importorskip("torch")

X = np.concatenate([np.linspace(-25.0, 25.0, 23), [0.0, -1.0, 1.0, 6.0, 30.0]])

ACTIVATIONS = [
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 5.0}), ("elu", {}),
    ("elu", {"alpha": 0.5}), ("selu", {}), ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("softsign", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("logsigmoid", {}),
    ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 6.0}), ("relu6", {}),
]


def _run(lib, name, kwargs, data):
    x = lib.tensor(data, requires_grad=True)
    y = getattr(lib.nn.functional, name)(x, **kwargs)
    weights = lib.tensor(np.cos(np.arange(y.numel(), dtype=np.float64))).reshape(y.shape)
    (y * weights).sum().backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
def test_activation_matches_pytorch(name, kwargs) -> None:
    ours, theirs = _run(tt, name, kwargs, X), _run(real, name, kwargs, X)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cls", "args"), [
    ("Softplus", ()), ("ELU", (0.3,)), ("SELU", ()), ("LeakyReLU", (0.1,)), ("Softsign", ()),
    ("GELU", ()), ("LogSigmoid", ()), ("Hardtanh", (-0.5, 0.5)), ("ReLU6", ()),
])
def test_activation_modules_match_pytorch(cls, args) -> None:
    x = X.astype(np.float32)
    ours = getattr(tt.nn, cls)(*args)(tt.tensor(x)).numpy()
    theirs = getattr(real.nn, cls)(*args)(real.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_inplace_activation_writes_its_input() -> None:
    x = tt.tensor([-1.0, 2.0])
    out = tt.nn.functional.leaky_relu(x, 0.5, inplace=True)
    assert out is x and x.tolist() == [-0.5, 2.0]


rng = np.random.default_rng(3)
A, B = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
B[0, :2] = A[0, :2]  # ties: the L1 gradient there is 0
B[1, 0] = A[1, 0] + 1.0  # exactly at smooth L1's / Huber's switch


def _loss(lib, fn, *arrays, **kwargs):
    tensors = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = fn(lib)(*tensors, **kwargs)
    out.sum().backward()
    return [out.detach().numpy()] + [t.grad.numpy() for t in tensors]


LOSSES = [
    (lambda lib: lib.nn.functional.l1_loss, {}),
    (lambda lib: lib.nn.functional.l1_loss, {"reduction": "none"}),
    (lambda lib: lib.nn.functional.smooth_l1_loss, {}),
    (lambda lib: lib.nn.functional.smooth_l1_loss, {"beta": 0.5, "reduction": "sum"}),
    (lambda lib: lib.nn.functional.smooth_l1_loss, {"beta": 0.0}),
    (lambda lib: lib.nn.functional.huber_loss, {}),
    (lambda lib: lib.nn.functional.huber_loss, {"delta": 2.0, "reduction": "none"}),
    (lambda lib: lib.nn.functional.mse_loss, {"reduction": "sum"}),
    (lambda lib: lib.nn.functional.cosine_similarity, {}),
    (lambda lib: lib.nn.functional.cosine_similarity, {"dim": 0}),
]


@pytest.mark.parametrize(("fn", "kwargs"), LOSSES)
def test_pairwise_loss_matches_pytorch(fn, kwargs) -> None:
    for ours, theirs in zip(_loss(tt, fn, A, B, **kwargs), _loss(real, fn, A, B, **kwargs),
                            strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"weight": True}, {"ignore_index": 2},
    {"weight": True, "ignore_index": 0, "reduction": "sum"},
])
def test_nll_loss_with_weights_and_ignore_index_matches_pytorch(kwargs) -> None:
    logp = np.log(np.random.default_rng(4).dirichlet(np.ones(3), size=6))
    target = [0, 2, 1, 2, 2, 0]
    outs = []
    for lib in (tt, real):
        args = dict(kwargs)
        if args.pop("weight", False):
            args["weight"] = lib.tensor([0.2, 1.0, 3.0], dtype=lib.float64)
        x = lib.tensor(logp, requires_grad=True)
        loss = lib.nn.functional.nll_loss(x, lib.tensor(target), **args)
        loss.sum().backward()
        outs.append((loss.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)


@pytest.mark.parametrize(("reduction", "log_target"), [
    ("batchmean", False), ("sum", False), ("none", False), ("batchmean", True),
])
def test_kl_div_matches_pytorch(reduction, log_target) -> None:
    g = np.random.default_rng(5)
    log_q = np.log(g.dirichlet(np.ones(4), size=3))
    p = g.dirichlet(np.ones(4), size=3)
    p[0, 1] = 0.0  # a zero target contributes nothing (and no NaN)
    target = np.log(p + 0.1) if log_target else p
    outs = []
    for lib in (tt, real):
        x = lib.tensor(log_q, requires_grad=True)
        loss = lib.nn.functional.kl_div(x, lib.tensor(target), reduction=reduction,
                                        log_target=log_target)
        loss.sum().backward()
        outs.append((loss.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)


def test_legacy_reduction_arguments_warn_as_pytorch() -> None:
    a, b = tt.tensor(A), tt.tensor(B)
    for kwargs, expected in [({"size_average": False}, "sum"), ({"reduce": False}, "none"),
                             ({"reduction": "elementwise_mean"}, "mean")]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = tt.nn.functional.l1_loss(a, b, **kwargs)
        want = tt.nn.functional.l1_loss(a, b, reduction=expected)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert "deprecated" in str(caught[0].message)
    with pytest.warns(UserWarning, match="reduction='sum' instead"):
        assert tt.nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.raises(ValueError, match="bogus is not a valid value for reduction"):
        tt.nn.L1Loss(reduction="bogus")


def test_loss_modules_match_pytorch() -> None:
    for cls, kwargs in [("L1Loss", {}), ("SmoothL1Loss", {"beta": 0.3}),
                        ("HuberLoss", {"delta": 0.7}), ("KLDivLoss", {"reduction": "batchmean"})]:
        ours = getattr(tt.nn, cls)(**kwargs)(tt.tensor(A), tt.tensor(np.abs(B)))
        theirs = getattr(real.nn, cls)(**kwargs)(real.tensor(A), real.tensor(np.abs(B)))
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    sim = tt.nn.CosineSimilarity(dim=1)(tt.tensor(A), tt.tensor(B))
    np.testing.assert_allclose(sim.numpy(), real.nn.CosineSimilarity(1)(
        real.tensor(A), real.tensor(B)).numpy(), rtol=1e-12)
