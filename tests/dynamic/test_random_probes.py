"""Samplers over the seeded generator (torch.normal's overloads, randint_like, bernoulli,
multinomial, the in-place normal_/uniform_/...) and the environment probes, checked for
PyTorch's shapes, dtypes and errors, seeded reproducibility and their distributions
(fixed seeds, so the statistics are the same on every run)."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as tt

real = pytest.importorskip("torch")


@pytest.mark.parametrize("call", [
    lambda lib: lib.normal(lib.zeros(2, 3), lib.ones(2, 3)),
    lambda lib: lib.normal(lib.zeros(2, 3), 2.0),
    lambda lib: lib.normal(0.5, lib.ones(3, dtype=lib.float64)),
    lambda lib: lib.normal(0.0, 1.0, size=(4, 2)),
    lambda lib: lib.normal(lib.zeros(3, 1), lib.ones(1, 2)),
    lambda lib: lib.randint_like(lib.zeros(2, 2), 5),
    lambda lib: lib.randint_like(lib.zeros(3, dtype=lib.int64), 2, 9),
    lambda lib: lib.bernoulli(lib.full((3, 2), 0.5)),
    lambda lib: lib.multinomial(lib.tensor([0.2, 0.3, 0.5]), 2),
    lambda lib: lib.multinomial(lib.ones(4, 3), 5, replacement=True),
    lambda lib: lib.zeros(2, 3, dtype=lib.float64).normal_(1.0, 2.0),
    lambda lib: lib.zeros(5).uniform_(-1.0, 1.0),
    lambda lib: lib.zeros(5).bernoulli_(0.3),
    lambda lib: lib.zeros(4).exponential_(),
    lambda lib: lib.zeros(4).random_(0, 7),
])
def test_shapes_and_dtypes_match_pytorch(call) -> None:
    ours, theirs = call(tt), call(real)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert not ours.requires_grad


def test_seeded_draws_repeat() -> None:
    def draw():
        tt.manual_seed(11)
        return [tt.normal(0.0, 1.0, size=(3,)).tolist(), tt.rand_like(tt.zeros(2)).tolist(),
                tt.multinomial(tt.ones(5), 3).tolist(), tt.zeros(2).normal_().tolist(),
                tt.bernoulli(tt.full((4,), 0.5)).tolist()]

    assert draw() == draw()


def test_distributions_have_the_right_moments() -> None:
    tt.manual_seed(0)
    z = tt.normal(tt.full((20000,), 3.0), tt.full((20000,), 0.5)).numpy()
    assert abs(z.mean() - 3.0) < 0.02 and abs(z.std() - 0.5) < 0.02
    b = tt.bernoulli(tt.full((20000,), 0.25)).numpy()
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.25) < 0.02
    counts = np.bincount(tt.multinomial(tt.tensor([1.0, 0.0, 3.0]), 20000, True).numpy(),
                         minlength=3)
    assert counts[1] == 0 and abs(counts[2] / 20000 - 0.75) < 0.02
    firsts = np.bincount([tt.multinomial(tt.tensor([1.0, 3.0]), 2)[0].item()
                          for _ in range(2000)], minlength=2)
    assert abs(firsts[1] / 2000 - 0.75) < 0.04  # without replacement: picked by weight
    u = tt.zeros(20000).uniform_(2.0, 4.0).numpy()
    assert u.min() >= 2.0 and u.max() < 4.0 and abs(u.mean() - 3.0) < 0.02
    e = tt.zeros(20000).exponential_(2.0).numpy()
    assert abs(e.mean() - 0.5) < 0.02


def test_errors_follow_pytorch() -> None:
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        tt.multinomial(tt.ones(2), 3)
    with pytest.raises(RuntimeError, match="probability tensor contains either"):
        tt.multinomial(tt.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        tt.multinomial(tt.zeros(3), 1, True)
    with pytest.raises(RuntimeError, match=r"p_in >= 0 && p_in <= 1"):
        tt.bernoulli(tt.tensor([1.5]))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        tt.zeros(2, requires_grad=True).normal_()
    with tt.no_grad():
        w = tt.zeros(2, requires_grad=True).uniform_(-0.1, 0.1)  # init under no_grad
    assert w.requires_grad and np.all(np.abs(w.detach().numpy()) <= 0.1)


def test_in_place_sample_cuts_the_gradient_to_the_old_value() -> None:
    x = tt.ones(3, requires_grad=True)
    y = x * 2
    y.normal_()
    (y * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


def test_environment_probes_answer_for_tapeflow() -> None:
    gpu = tt.cuda.is_available()
    assert tt.accelerator.is_available() is gpu
    assert tt.cuda.device_count() == (tt.cuda.device_count() if gpu else 0)
    assert (tt.accelerator.current_accelerator() is None) is (not gpu)
    assert tt.backends.mps.is_available() is False and tt.backends.mps.is_built() is False
    assert tt.backends.cudnn.is_available() is False and tt.backends.cudnn.enabled
    tt.backends.cudnn.benchmark = True
    tt.backends.cudnn.deterministic = True
    tt.set_default_device("cpu")
    assert tt.get_default_device() == tt.device("cpu")
    assert tt.zeros(1).device == tt.device("cpu")
    with pytest.raises(NotImplementedError, match="pass device="):
        tt.set_default_device("cuda")
    device = tt.device("mps" if tt.backends.mps.is_available() else "cpu")
    assert tt.ones(2).to(device).device.type == "cpu"
