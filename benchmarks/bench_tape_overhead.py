"""What the tape costs: µs per recorded op, on a chain of 10,000 tiny ops, forward + backward.

The chain cycles through ``y = y * 2``, ``y = exp(y)``, ``y = log(y)``, ``y = y * 0.5`` on a
4-element float32 tensor (so the values stay near 1 and the gradient stays 1: nothing
vanishes or overflows), then calls ``backward()``. The same arithmetic runs three ways:

* ``tapeflow.dynamic``: every op records a node, backward walks the tape;
* ``numpy``: the same forward values and the same gradient, by hand, with no tape;
* ``torch`` (PyTorch eager, only when it is installed).

Prints the median of several repeats for each, in µs per op (forward + backward, divided by
the number of ops), and the ratios measured in this one run (the machines are shared and
noisy, so the ratios are the numbers to quote). The three take turns, one repeat each, so a
slow spell lands on all of them; ``--cpu-time`` times with the thread's CPU time instead.

Run: ``.venv/bin/python benchmarks/bench_tape_overhead.py [--ops 10000] [--repeats 7]
[--cpu-time]``
"""

from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tapeflow.dynamic as tft
from tapeflow.dynamic.heap import tune_heap


def chain_framework(module: Any, ops: int) -> Callable[[], float]:
    """One forward + backward pass of the chain in a PyTorch-like module."""

    def run() -> float:
        x = module.ones(4, requires_grad=True)
        y = x
        for i in range(ops):
            kind = i % 4
            if kind == 0:
                y = y * 2.0
            elif kind == 1:
                y = y.exp()
            elif kind == 2:
                y = y.log()
            else:
                y = y * 0.5
        y.sum().backward()
        return float(x.grad[0])

    return run


def chain_numpy(ops: int) -> Callable[[], float]:
    """The same values and gradient with numpy and no tape (what backward needs, kept by hand)."""

    def run() -> float:
        y = np.ones(4, dtype=np.float32)
        saved: list[np.ndarray | None] = []
        for i in range(ops):
            kind = i % 4
            if kind == 0:
                y = y * np.float32(2.0)
                saved.append(None)
            elif kind == 1:
                y = np.exp(y)
                saved.append(y)  # exp keeps its output
            elif kind == 2:
                saved.append(y)  # log keeps its input
                y = np.log(y)
            else:
                y = y * np.float32(0.5)
                saved.append(None)
        g = np.ones(4, dtype=np.float32)
        for i in range(ops - 1, -1, -1):
            kind = i % 4
            if kind == 0:
                g = g * np.float32(2.0)  # d(2y) = 2g
            elif kind == 1:
                g = g * saved[i]  # d exp(y) = g exp(y)
            elif kind == 2:
                g = g / saved[i]  # d log(y) = g / y
            else:
                g = g * np.float32(0.5)
        return float(g[0])

    return run


def interleaved_us_per_op(runs: dict[str, Callable[[], float]], ops: int, repeats: int,
                          timer: Callable[[], float]) -> tuple[dict[str, float], dict[str, float]]:
    """The median µs per op of each run and its dx[0], with the repeats interleaved (one of
    each in turn), so that a slow spell of a shared machine lands on all of them alike."""
    for fn in runs.values():
        fn()  # warm up (imports, caches)
    times: dict[str, list[float]] = {name: [] for name in runs}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = timer()
            values[name] = fn()
            times[name].append(timer() - start)
    return {name: statistics.median(t) / ops * 1e6 for name, t in times.items()}, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this thread's CPU time instead of the wall clock (on a "
                             "loaded machine: leaves out the time other processes ran)")
    args = parser.parse_args()

    runs = {"tapeflow.dynamic": chain_framework(tft, args.ops),
            "numpy (no tape)": chain_numpy(args.ops)}
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        runs["torch eager"] = chain_framework(torch, args.ops)
    timer = time.thread_time if args.cpu_time else time.perf_counter
    # the heap and GC settings bench_steps.py's workers run with (dynamic/heap.py), here for
    # every framework in this process alike
    tune_heap()
    # The frameworks share this process, so Python's cyclic GC would also traverse the
    # objects torch's import made (about 140,000) each time a long chain's Python objects
    # (tapeflow's nodes and tensors; torch keeps its graph in C++) set off a full
    # collection: a 10,000-op chain measured 13.1 us/op with torch imported against 8.5
    # without (6.9 either way with gc off). Freezing what the imports made leaves the
    # collector what the chains allocate, as in a process of their own.
    gc.collect()
    gc.freeze()
    results, values = interleaved_us_per_op(runs, args.ops, args.repeats, timer)

    clock = "thread CPU time" if args.cpu_time else "wall clock"
    print(f"chain of {args.ops} tiny ops (mul, exp, log, mul on 4 floats), forward + backward, "
          f"median of {args.repeats} interleaved repeats, {clock}")
    print(f"{'':20s} {'us/op':>8s}   dx[0]")
    for name, us in results.items():
        print(f"{name:20s} {us:8.2f}   {values[name]:.6f}")
    ours = results["tapeflow.dynamic"]
    print(f"tapeflow / numpy   = {ours / results['numpy (no tape)']:.2f}x")
    if "torch eager" in results:
        print(f"tapeflow / torch   = {ours / results['torch eager']:.2f}x")
    else:
        print("torch not installed: no PyTorch comparison")
    spread = max(values.values()) - min(values.values())
    print(f"gradients agree to {spread:.2e}")


if __name__ == "__main__":
    main()
