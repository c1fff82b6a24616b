"""The shortcuts that cut backward()'s per-node cost compute what the general paths compute.

Each shortcut (per-input rules called from the engine, a target's first gradient held as a
pair until a second arrives, grad mode switched without objects, Ctrl-C held through the
``_signal`` module, nodes whose rarely used fields are class defaults) is checked against
the path it skips: anomaly mode runs every node through ``OpDef.vjp`` and sums gradients
out of place, create_graph records the sums; losses and gradients must agree bit for bit,
since the arithmetic and its order are the same. The two overhead benchmarks run too.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import thread_state
from tapeflow.dynamic.tape import Node

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _xor_and_rnn_steps(mode: str, steps: int = 4) -> list[float]:
    """Losses of a few SGD steps of a small XOR net and an Elman RNN, float32, run with the
    engine in ``mode``: "fast", "anomaly" (the general rule path) or "create_graph"."""
    rng = np.random.default_rng(7)
    f32 = np.float32
    w = {k: torch.tensor(rng.standard_normal(s).astype(f32), requires_grad=True)
         for k, s in (("w1", (2, 5)), ("b1", (5,)), ("w2", (5, 2)), ("b2", (2,)),
                      ("wx", (3, 8)), ("wh", (8, 8)), ("bh", (8,)), ("wo", (8, 2)))}
    x = torch.from_numpy(rng.standard_normal((4, 2)).astype(f32))
    y = torch.from_numpy(rng.standard_normal((4, 2)).astype(f32))
    seq = torch.from_numpy(rng.standard_normal((6, 5, 3)).astype(f32))
    labels = torch.from_numpy(rng.integers(0, 2, size=6))
    losses = []
    for _ in range(steps):
        for p in w.values():
            p.grad = None
        hidden = torch.sigmoid(x @ w["w1"] + w["b1"])
        xor = ((hidden @ w["w2"] + w["b2"] - y) ** 2).mean()
        h = torch.zeros(6, 8)
        for t in range(5):
            h = torch.tanh(seq[:, t] @ w["wx"] + h @ w["wh"] + w["bh"])
        rnn = torch.nn.functional.cross_entropy(h @ w["wo"], labels)
        loss = xor + rnn
        if mode == "anomaly":
            with warnings.catch_warnings(), torch.autograd.detect_anomaly():
                warnings.simplefilter("ignore")  # (anomaly mode warns that it is slow)
                loss.backward()
        else:
            loss.backward(create_graph=mode == "create_graph")
        with torch.no_grad():
            for p in w.values():
                p -= 0.1 * p.grad.detach()
        losses.append(loss.item())
    return losses + [float(v) for p in w.values() for v in p.detach().numpy().ravel()]


@pytest.mark.parametrize("general", ["anomaly", "create_graph"])
def test_fast_backward_is_bit_identical_to_the_general_paths(general: str) -> None:
    assert _xor_and_rnn_steps("fast") == _xor_and_rnn_steps(general)


def test_three_gradients_into_one_leaf_are_summed_in_arrival_order() -> None:
    # float32 addition does not associate: the sum must be (g3 + g2) + g1, newest consumer
    # first, as the heap-ordered sweep delivers them (the second arrival turns the pair
    # held for the leaf into a Gathered sum)
    a, b, c = (np.array(v, np.float32) for v in ([1.0], [1e8], [-1e8]))
    x = torch.tensor([1.0], requires_grad=True)
    (x * float(a[0]) + x * float(b[0]) + x * float(c[0])).sum().backward()
    expected = (c + b) + a
    assert x.grad.numpy().tobytes() == expected.tobytes()
    assert expected.tobytes() != ((a + b) + c).tobytes()  # (the order is visible)


def test_a_hook_on_one_node_is_its_own() -> None:
    # hooks, labels and next_functions are class-level defaults until set on one node
    x = torch.ones(2, requires_grad=True)
    y, z = x * 2.0, x * 3.0
    seen: list[list[float]] = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    assert z.grad_fn.pre_hooks is None and Node.pre_hooks is None
    (y.sum() + z.sum()).backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [5.0, 5.0]
    assert y.grad_fn.next_functions is y.grad_fn.next_functions  # cached, per node
    assert y.grad_fn.name() == "MulBackward0"


def test_backward_restores_grad_mode_and_the_per_op_switches() -> None:
    observed: list[str] = []
    observer = lambda event, what: observed.append(event)  # noqa: E731
    thread_state.add_observer(observer)
    try:
        x = torch.ones(2, requires_grad=True)
        with torch.no_grad():
            y = x * 2.0
        assert not y.requires_grad
        (x * 2.0).sum().backward()
        assert torch.is_grad_enabled()
        hot = thread_state.STATE.hot
        thread_state.STATE.refresh()  # what every setter must have left behind
        assert hot == thread_state.STATE.hot == (None, True, True)
        assert observed.count("backward") == observed.count("backward_end") == 1
    finally:
        thread_state.remove_observer(observer)


def test_a_failed_backward_leaves_grad_mode_on_and_every_grad_alone() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.grad = torch.tensor([5.0, 5.0])
    y = x.exp()
    loss = (y * x).sum()
    with torch.no_grad():
        y.add_(1.0)  # exp saved its output: backward must refuse
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    assert torch.is_grad_enabled()
    assert x.grad.tolist() == [5.0, 5.0]


@pytest.mark.parametrize("script, args, expect", [
    ("bench_tape_overhead.py", ["--ops", "40", "--repeats", "1"], "gradients agree to 0.00e+00"),
    ("bench_dynamic_profile.py", ["--workload", "xor", "--steps", "8", "--top", "3"],
     "xor: first loss"),
])
def test_overhead_benchmarks_run(script: str, args: list[str], expect: str) -> None:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout
