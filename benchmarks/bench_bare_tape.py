"""How fast can a tape written in Python be? tapeflow against a bare tape and PyTorch.

Issue #25 asks dynamic mode for steps at 0.6x (XOR) and 0.75x (RNN) of PyTorch eager's, and
0.6x of its cost per op on a chain of tiny ops. PyTorch records and replays its graph in
C++; tapeflow does it in Python. This script measures what the Python side of any tape
costs at the least, so those targets can be judged against it.

The **bare tape** below is the least a Python tape can do and still be one: each op is one
Python call that runs the same numpy kernel as tapeflow, makes one object for its result and
appends ``(result, gradient function, inputs)`` to a list; ``backward()`` walks the list
newest first, calls each gradient function once and sums gradients in a dict. It has none of
what a framework owes its users: no dtype rules, version counters, hooks, no_grad, anomaly
mode, error messages, thread safety, graph freeing, or interrupt safety. Its figures are
therefore a floor for tapeflow's design, not a product; the script checks that its
gradients match tapeflow's, so the two do the same arithmetic.

Workloads are those of ``bench_steps.py`` (the same weights and data, float32, one BLAS
thread): a full training step (forward, backward, SGD update), and the 10,000-op chain of
``bench_tape_overhead.py``. The three take turns, one repeat each, timed in this thread's
CPU time; medians and ratios come from this one run.

Run: ``.venv/bin/python benchmarks/bench_bare_tape.py [--repeats 400] [--ops 10000]``
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_steps  # noqa: E402  (benchmarks/ is not a package)
import tapeflow_models  # noqa: E402


class Var:
    """A value on the bare tape (every Var wants a gradient; inputs are plain arrays)."""

    __slots__ = ("value", "grad")
    __array_ufunc__ = None  # (array @ Var: numpy defers to Var.__rmatmul__)

    def __init__(self, value: Any) -> None:
        self.value = value
        self.grad = None

    def __matmul__(self, other: Any) -> Var:
        a, b = self.value, _value(other)
        if type(other) is Var:
            return _record(a @ b, lambda g: (g @ b.T, a.T @ g), self, other)
        return _record(a @ b, lambda g: (g @ b.T,), self)

    def __rmatmul__(self, other: Any) -> Var:  # data @ weight
        a, b = other, self.value
        return _record(a @ b, lambda g: (a.T @ g,), self)

    def __add__(self, other: Var) -> Var:
        return _record(self.value + other.value, lambda g: (g, g), self, other)

    def __sub__(self, other: Any) -> Var:  # weight-side minus data
        return _record(self.value - other, lambda g: (g,), self)

    def square(self) -> Var:
        x = self.value
        return _record(x * x, lambda g: (g * (x + x),), self)

    def mean(self) -> Var:
        x = self.value
        return _record(np.mean(x), lambda g: (np.full(x.shape, g / x.size, x.dtype),), self)

    def __getitem__(self, index: Any) -> Var:
        return Var(self.value[index])  # only data is indexed here (no gradient wanted)


def _value(x: Any) -> Any:
    return x.value if type(x) is Var else x


TAPE: list[tuple[Var, Callable[[Any], tuple[Any, ...]], tuple[Var, ...]]] = []


def _record(value: Any, grad_fn: Callable[[Any], tuple[Any, ...]], *inputs: Var) -> Var:
    out = Var(value)
    TAPE.append((out, grad_fn, inputs))
    return out


def sigmoid(x: Var) -> Var:
    y = 1.0 / (1.0 + np.exp(-x.value))
    return _record(y, lambda g: (g * y * (1.0 - y),), x)


def tanh(x: Var) -> Var:
    y = np.tanh(x.value)
    return _record(y, lambda g: (g * (1.0 - y * y),), x)


def cross_entropy(logits: Var, labels: Any) -> Var:
    z = logits.value
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_p[rows, labels].mean()

    def grad_fn(g: Any) -> tuple[Any, ...]:
        d = np.exp(log_p)
        d[rows, labels] -= 1.0
        return (d * (g / len(labels)),)

    return _record(np.asarray(loss, z.dtype), grad_fn, logits)


def backward(loss: Var) -> None:
    """Newest first through the tape; a gradient is summed where several meet, and each
    input's gradient is summed down to its shape (a broadcast bias)."""
    grads = {id(loss): np.ones_like(loss.value)}
    for out, grad_fn, inputs in reversed(TAPE):
        g = grads.pop(id(out), None)
        if g is None:
            continue
        for x, gx in zip(inputs, grad_fn(g), strict=True):
            if gx.shape != x.value.shape:
                gx = gx.sum(axis=0)
            key = id(x)
            grads[key] = grads[key] + gx if key in grads else gx
    for _, _, inputs in TAPE:
        for x in inputs:
            if id(x) in grads and x.grad is None:
                x.grad = grads[id(x)]
    TAPE.clear()


def bare_step(weights: dict[str, np.ndarray], spec: dict, lr: float) -> Callable[..., float]:
    """The training step of ``tapeflow_models.dynamic_step`` on the bare tape."""
    params = {k: Var(w.copy()) for k, w in weights.items()}
    p = params

    def step(inputs: np.ndarray, targets: np.ndarray) -> float:
        for param in params.values():
            param.grad = None
        if spec["kind"] == "xor":
            hidden = sigmoid(inputs @ p["w1"] + p["b1"])
            loss = ((hidden @ p["w2"] + p["b2"]) - targets).square().mean()
        else:
            state = Var(np.zeros((spec["batch"], spec["hidden"]), inputs.dtype))
            for t in range(spec["steps"]):
                state = tanh(inputs[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"]
                             + p["b_hh"])
            loss = cross_entropy(state @ p["w_out"] + p["b_out"], targets)
        backward(loss)
        for param in params.values():
            param.value -= lr * param.grad
        return float(loss.value)

    step.params = params  # (for the gradient check)
    return step


def bare_chain(ops: int) -> Callable[[], float]:
    """``bench_tape_overhead.py``'s chain on the bare tape."""
    two, half = np.float32(2.0), np.float32(0.5)

    def scale(x: Var, c: Any) -> Var:
        return _record(x.value * c, lambda g: (g * c,), x)

    def exp(x: Var) -> Var:
        y = np.exp(x.value)
        return _record(y, lambda g: (g * y,), x)

    def log(x: Var) -> Var:
        v = x.value
        return _record(np.log(v), lambda g: (g / v,), x)

    def run() -> float:
        x = Var(np.ones(4, np.float32))
        y = x
        for i in range(ops):
            kind = i % 4
            y = scale(y, two) if kind == 0 else exp(y) if kind == 1 else (
                log(y) if kind == 2 else scale(y, half))
        total = _record(np.sum(y.value), lambda g: (np.full(4, g, np.float32),), y)
        backward(total)
        return float(x.grad[0])

    return run


def check_bare_gradients(workload: str) -> float:
    """The largest difference between the bare tape's parameters and tapeflow's after one
    step (the same arithmetic up to rounding: the bare tape sums in its own order)."""
    spec = {**bench_steps.WORKLOADS[workload], "dtype": "float32"}
    weights, batch = bench_steps.make_data(spec)
    lr = bench_steps.LR[spec["kind"]]
    bare = bare_step(weights, spec, lr)
    bare(*batch)
    theirs = _after_one_tapeflow_step(weights, spec, lr, batch)
    return max(float(np.max(np.abs(bare.params[k].value - theirs[k]))) for k in weights)


def _after_one_tapeflow_step(weights: dict, spec: dict, lr: float, batch: tuple) -> dict:
    import tapeflow.dynamic as torch

    params = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
    p = params
    x, y = torch.from_numpy(batch[0]), torch.from_numpy(batch[1])
    if spec["kind"] == "xor":
        hidden = torch.sigmoid(x @ p["w1"] + p["b1"])
        loss = ((hidden @ p["w2"] + p["b2"] - y) ** 2).mean()
    else:
        state = torch.zeros(spec["batch"], spec["hidden"], dtype=torch.float32)
        for t in range(spec["steps"]):
            state = torch.tanh(x[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"] + p["b_hh"])
        loss = torch.nn.functional.cross_entropy(state @ p["w_out"] + p["b_out"], y)
    loss.backward()
    return {k: (v.detach() - lr * v.grad).numpy() for k, v in params.items()}


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median CPU µs of each run, one repeat of each in turn."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.thread_time()
            fn()
            times[name].append(time.thread_time() - start)
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}


def step_runs(workload: str, torch: Any) -> dict[str, Callable[[], Any]]:
    spec = {**bench_steps.WORKLOADS[workload], "dtype": "float32"}
    weights, batch = bench_steps.make_data(spec)
    lr = bench_steps.LR[spec["kind"]]
    runs = {"tapeflow.dynamic": tapeflow_models.dynamic_step(weights, spec, lr),
            "bare tape": bare_step(weights, spec, lr)}
    if torch is not None:
        import peer_models

        runs["torch eager"] = peer_models.torch_eager(weights, spec, lr)
    return {name: (lambda fn=fn: fn(*batch)) for name, fn in runs.items()}


def chain_runs(ops: int, torch: Any) -> dict[str, Callable[[], Any]]:
    import bench_tape_overhead
    import tapeflow.dynamic as tft

    runs = {"tapeflow.dynamic": bench_tape_overhead.chain_framework(tft, ops),
            "bare tape": bare_chain(ops)}
    if torch is not None:
        runs["torch eager"] = bench_tape_overhead.chain_framework(torch, ops)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=400,
                        help="steps of each workload per run (the chain runs a 40th)")
    parser.add_argument("--ops", type=int, default=10_000, help="length of the chain")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    from tapeflow.dynamic.heap import tune_heap

    tune_heap()
    gc.collect()
    gc.freeze()  # (what the imports made is left out of the collector's scans, for all)
    for workload in ("xor", "rnn"):
        print(f"{workload}: bare tape vs tapeflow parameters after one step differ by at most "
              f"{check_bare_gradients(workload):.1e}")
    rows = [(w, interleaved(step_runs(w, torch), args.repeats), 1) for w in ("xor", "rnn")]
    ops = args.ops
    rows.append(("chain, per op", interleaved(chain_runs(ops, torch), max(3, args.repeats // 40)),
                 ops))
    print("\nmedian CPU µs (one run, interleaved); ratios to PyTorch eager\n")
    print("| workload | tapeflow.dynamic | bare tape | torch eager | tapeflow / torch | "
          "bare / torch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t, per in rows:
        ours, bare = t["tapeflow.dynamic"] / per, t["bare tape"] / per
        ref = t.get("torch eager")
        peer = f"{ref / per:.2f}" if ref else "-"
        r1 = f"{ours / (ref / per):.2f}x" if ref else "-"
        r2 = f"{bare / (ref / per):.2f}x" if ref else "-"
        print(f"| {name} | {ours:.2f} | {bare:.2f} | {peer} | {r1} | {r2} |")


if __name__ == "__main__":
    main()
