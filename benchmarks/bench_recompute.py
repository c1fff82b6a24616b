"""Trading compute for memory: the recompute pass and dynamic checkpointing, measured.

Issue 23's measures, every ratio from one run of this script:

1. RNN-large (Elman tanh, B=64, T=50, D=128, H=512, float32) training step compiled with
   ``CompileOptions(recompute="sqrt")`` against the same options without it: the planned
   arena (``Session.plan``, validated) and the median step time (plain and recomputing
   steps interleaved, so a slow spell of the shared machine hits both). Each row names its
   options: ``default options`` is ``CompileOptions()`` (dot merging on: its products run
   in blocks of about sqrt(T) steps, which recomputation rebuilds one segment at a time),
   ``dot_merge=False`` the same with dot merging off. The losses of the two steps must be
   equal bit for bit (the script stops otherwise).
2. Scaling: the planned arena at T=100 and T=400, with and without recomputation, for both
   option sets.
3. Dynamic mode: ``torch.utils.checkpoint`` around segments of the RNN's time loop (about
   sqrt(T) steps each) at T=200: tracemalloc's peak over one forward + backward, against
   the same step without checkpoints (gradients compared bit for bit).

    .venv/bin/python benchmarks/bench_recompute.py [--quick] [--repeats N]

Absolute times are from a shared CPU and only the ratios mean anything; BLAS runs one
thread (set OPENBLAS_NUM_THREADS to change it), so the CPU time of a step (this process's,
``time.process_time``) is also shown: other programs on the machine slow the wall clock
but hardly the CPU time.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

# one BLAS thread, as bench_steps.py's default: on a shared 2-core machine more threads
# measure contention (set before numpy loads its BLAS)
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

LARGE = {"kind": "rnn", "batch": 64, "steps": 50, "features": 128, "hidden": 512,
         "dtype": "float32"}
QUICK = {**LARGE, "batch": 16, "steps": 20, "features": 32, "hidden": 128}


def make_weights(spec: dict, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, h, dtype = spec["features"], spec["hidden"], np.dtype(spec["dtype"])
    bound = 1.0 / math.sqrt(h)
    u = lambda *shape: rng.uniform(-bound, bound, size=shape).astype(dtype)  # noqa: E731
    weights = {"w_ih": u(d, h), "w_hh": u(h, h), "b_ih": u(h), "b_hh": u(h),
               "w_out": u(h, 2), "b_out": u(2)}
    x = rng.standard_normal((spec["batch"], spec["steps"], d)).astype(dtype)
    return weights, x, rng.integers(0, 2, size=spec["batch"])


#: the compile options each static row uses, without and with recompute="sqrt"
VARIANTS = (("default options", {}), ("dot_merge=False", {"dot_merge": False}))


def static_pair(spec: dict, options: dict) -> tuple[object, object, tuple]:
    """Two training steps of the same model, without and with recompute="sqrt"."""
    from tapeflow.static.compiler import CompileOptions
    from tapeflow_models import static_step

    weights, x, y = make_weights(spec)
    plain = static_step(weights, spec, 0.05, options=CompileOptions(**options))
    again = static_step(weights, spec, 0.05,
                        options=CompileOptions(**options, recompute="sqrt"))
    return plain, again, (x, y)


def arena(step: object, batch: tuple) -> int:
    session, (xh, yh) = step.session, step.feeds  # type: ignore[attr-defined]
    plan = session.plan(step.fetches, {xh: batch[0], yh: batch[1]})  # type: ignore[attr-defined]
    plan.validate()
    return plan.arena_bytes


def step_times(plain: object, again: object, batch: tuple, repeats: int
               ) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU seconds of each step, the two interleaved."""
    first = [plain(*batch), again(*batch)]  # type: ignore[operator]
    assert first[0] == first[1], f"losses differ: {first}"
    clocks = {"step time": time.perf_counter, "step CPU time": time.process_time}
    times: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in clocks}
    for _ in range(repeats):
        for k, step in enumerate((plain, again)):
            start = {c: clock() for c, clock in clocks.items()}
            step(*batch)  # type: ignore[operator]
            for c, clock in clocks.items():
                times[c][k].append(clock() - start[c])
    return {c: (statistics.median(a), statistics.median(b)) for c, (a, b) in times.items()}


def measure_large(spec: dict, repeats: int) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, options in VARIANTS:
        plain, again, batch = static_pair(spec, options)
        a0, a1 = arena(plain, batch), arena(again, batch)
        rows.append((f"T={spec['steps']} arena, {label}", f"{a0 / 1e6:.2f} MB",
                     f"{a1 / 1e6:.2f} MB", f"{a1 / a0:.2f}x (target <= 0.4x)"))
        for clock, (t0, t1) in step_times(plain, again, batch, repeats).items():
            rows.append((f"T={spec['steps']} {clock}, {label}", f"{t0 * 1e3:.0f} ms",
                         f"{t1 * 1e3:.0f} ms", f"{t1 / t0:.2f}x (target <= 1.4x)"))
    return rows


def measure_scaling(spec: dict, lengths: tuple[int, int]) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, options in VARIANTS:
        arenas = {}
        for t in lengths:
            plain, again, batch = static_pair({**spec, "steps": t}, options)
            arenas[t] = (arena(plain, batch), arena(again, batch))
        short, long = (arenas[t] for t in lengths)
        rows += [(f"T={t} arena, {label}", f"{arenas[t][0] / 1e6:.2f} MB",
                  f"{arenas[t][1] / 1e6:.2f} MB", f"{arenas[t][1] / arenas[t][0]:.2f}x")
                 for t in lengths]
        rows.append((f"arena growth T={lengths[0]} -> {lengths[1]}, {label}",
                     f"{long[0] / short[0]:.2f}x", f"{long[1] / short[1]:.2f}x",
                     "target <= 2.3x recomputing"))
    return rows


def dynamic_peak(spec: dict, segment: int | None) -> tuple[int, list[np.ndarray]]:
    """tracemalloc's peak over one forward + backward of the RNN (checkpointed every
    ``segment`` steps, or not at all), and the gradients."""
    import tapeflow.dynamic as torch
    from tapeflow.dynamic.utils.checkpoint import checkpoint

    weights, x, y = make_weights(spec)
    p = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)

    def steps(state, first: int, last: int):
        for t in range(first, last):
            state = torch.tanh(inputs[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"]
                               + p["b_hh"])
        return state

    tracemalloc.start()
    state = torch.zeros(spec["batch"], spec["hidden"], dtype=getattr(torch, spec["dtype"]))
    t_len = spec["steps"]
    size = segment or t_len
    for first in range(0, t_len, size):
        last = min(first + size, t_len)
        if segment:
            state = checkpoint(steps, state, first, last, use_reentrant=False)
        else:
            state = steps(state, first, last)
    logits = state @ p["w_out"] + p["b_out"]
    torch.nn.functional.cross_entropy(logits, labels).backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, [p[k].grad.numpy().copy() for k in sorted(p)]


def measure_dynamic(spec: dict) -> list[tuple[str, str, str, str]]:
    segment = max(1, round(math.sqrt(spec["steps"])))
    plain, grads0 = dynamic_peak(spec, None)
    again, grads1 = dynamic_peak(spec, segment)
    same = all(np.array_equal(a, b) for a, b in zip(grads0, grads1, strict=True))
    return [(f"dynamic T={spec['steps']} peak traced, segments of {segment}",
             f"{plain / 1e6:.2f} MB", f"{again / 1e6:.2f} MB",
             f"{again / plain:.2f}x (target <= 0.5x); grads bit-identical: {same}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small RNN, a quick check")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    args = parser.parse_args()
    spec = QUICK if args.quick else LARGE
    lengths = (20, 80) if args.quick else (100, 400)
    rows = measure_large(spec, args.repeats)
    rows += measure_scaling(spec, lengths)
    rows += measure_dynamic({**spec, "steps": 50 if args.quick else 200})
    print("each row: 'without' is the options it names, 'with recompute' the same plus "
          "recompute='sqrt'; default options = CompileOptions()")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} "
          f"(machine of {os.cpu_count()} CPUs)")
    head = ("measure", "without", "with recompute", "ratio")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
