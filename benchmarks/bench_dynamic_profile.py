"""Where a dynamic-mode training step spends its time: a profile of the benchmark's own step.

Builds the same XOR or RNN step that ``bench_steps.py`` times (``tapeflow_models.dynamic_step``,
the same weights and data), warms it up, then runs it ``--steps`` times under a profiler and
prints the functions with the most own time (or pyinstrument's call tree with ``--tree``), and
with cProfile the Python function calls per step and per kernel (a count, not a time: the
figure that a shared, loaded machine leaves alone).
Also prints the median step time and the loss of the first step, so a change can be checked
to leave the loss alone.

Profilers: ``cprofile`` (the standard library; deterministic, so its per-call overhead
inflates small functions) or ``pyinstrument`` (sampling; ``.venv/bin/pip install
pyinstrument``).

Run: ``.venv/bin/python benchmarks/bench_dynamic_profile.py [--workload rnn] [--steps 200]
[--profiler cprofile|pyinstrument] [--top 25] [--tree]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_steps  # noqa: E402  (benchmarks/ is not a package)
import tapeflow_models  # noqa: E402


def build_step(workload: str, dtype: str) -> tuple[Callable[..., float], tuple[Any, ...]]:
    """The benchmark's dynamic step for ``workload`` and the batch it is fed."""
    spec = {**bench_steps.WORKLOADS[workload], "dtype": dtype}
    weights, batch = bench_steps.make_data(spec)
    step = tapeflow_models.dynamic_step(weights, spec, bench_steps.LR[spec["kind"]])
    return step, batch


def time_steps(step: Callable[..., float], batch: tuple[Any, ...], count: int) -> float:
    """The median seconds of ``count`` steps."""
    times = []
    for _ in range(count):
        t = time.perf_counter()
        step(*batch)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def kernels_per_step(step: Callable[..., float], batch: tuple[Any, ...]) -> dict[str, int]:
    """How many kernels one step runs, forward (and update) and inside backward()."""
    from tapeflow.dynamic import thread_state

    counts = {"forward": 0, "backward": 0}
    where = ["forward"]

    def observe(event: str, what: Any) -> None:
        if event == "kernel":
            counts[where[0]] += 1
        elif event in ("backward", "backward_end"):
            where[0] = "backward" if event == "backward" else "forward"

    thread_state.add_observer(observe)
    try:
        step(*batch)
    finally:
        thread_state.remove_observer(observe)
    return counts


def profile_cprofile(step: Callable[..., float], batch: tuple[Any, ...], steps: int,
                     top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step(*batch)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # function calls per kernel: the Python overhead in a unit a loaded machine cannot blur
    kernels = kernels_per_step(step, batch)
    calls = stats.total_calls / steps  # type: ignore[attr-defined]
    print(f"{calls:.0f} Python function calls per step for {kernels['forward']} kernels outside "
          f"backward() and {kernels['backward']} inside: "
          f"{calls / max(sum(kernels.values()), 1):.1f} calls per kernel", file=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def profile_pyinstrument(step: Callable[..., float], batch: tuple[Any, ...], steps: int,
                         top: int, tree: bool) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(steps):
        step(*batch)
    profiler.stop()
    if tree:
        return profiler.output_text(unicode=False, color=False, show_all=False)
    # own time per function, summed over the whole tree
    own: dict[str, float] = {}
    total = 0.0

    def walk(frame: Any) -> None:
        nonlocal total
        if frame is None or frame.is_synthetic:
            return
        real = [child for child in frame.children if not child.is_synthetic]
        self_time = frame.time - sum(child.time for child in real)
        key = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
        own[key] = own.get(key, 0.0) + self_time
        total += self_time
        for child in real:
            walk(child)

    walk(profiler.last_session.root_frame() if profiler.last_session else None)
    rows = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:top]
    lines = [f"{'own %':>7}  function"]
    lines += [f"{100 * t / total:6.1f}%  {name}" for name, t in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="rnn", choices=["xor", "rnn", "rnn-large"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--profiler", default="cprofile", choices=["cprofile", "pyinstrument"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--tree", action="store_true", help="pyinstrument's call tree")
    args = parser.parse_args()
    from tapeflow.dynamic.heap import tune_heap

    tune_heap()  # as bench_steps.py's workers and `tapeflow compare` do
    step, batch = build_step(args.workload, args.dtype)
    first_loss = step(*batch)
    for _ in range(5):
        step(*batch)
    median = time_steps(step, batch, max(args.steps // 4, 10))
    print(f"{args.workload}: first loss {first_loss!r}, median step {median * 1e6:.0f} us "
          "(unprofiled)")
    if args.profiler == "cprofile":
        print(profile_cprofile(step, batch, args.steps, args.top))
    else:
        print(profile_pyinstrument(step, batch, args.steps, args.top, args.tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
