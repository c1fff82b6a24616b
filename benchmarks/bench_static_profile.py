"""Where a static training step spends its time: Session.run overhead and schedule lines.

For one workload of ``bench_steps.py`` (xor, rnn, rnn-large) this builds the tapeflow
static training step and prints

1. the layers of one step, each timed alone: ``Session.run`` (fetch/feed handling, cache
   lookup, results), ``Executor.run`` and the generated schedule function itself, next to
   the preallocated-numpy step;
2. the generated schedule's lines that cost most, measured by running an instrumented
   copy of the schedule (a clock read between lines) and summing per line;
3. with ``--pyinstrument``, pyinstrument's call tree of many ``Session.run`` calls.

Times are CPU time of this thread (``time.thread_time``), minimum over repeats, which
is steadier than wall time on a shared machine; BLAS runs on one thread.

    .venv/bin/python benchmarks/bench_static_profile.py --workload xor [--top 15]
    .venv/bin/python benchmarks/bench_static_profile.py --workload rnn --off dot_merge
    .venv/bin/python benchmarks/bench_static_profile.py --workload rnn-large --blas auto
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_steps  # noqa: E402
import numpy_reference  # noqa: E402
import tapeflow_models  # noqa: E402


def cpu_time(fn: Callable[[], Any], calls: int, repeats: int = 7) -> float:
    """Seconds of this thread's CPU time per call of ``fn``: the best of ``repeats``."""
    timer = timeit.Timer(fn, timer=time.thread_time)
    return min(timer.repeat(number=calls, repeat=repeats)) / calls


def build(workload: str, off: list[str], dtype: str, blas: str = "numpy"
          ) -> tuple[Any, Any, Any, Any]:
    """(static step, its session's cached entry, the batch, the numpy-prealloc step)."""
    import tapeflow.static as tf

    spec = {**bench_steps.WORKLOADS[workload], "dtype": dtype}
    weights, batch = bench_steps.make_data(spec)
    lr = bench_steps.LR[spec["kind"]]
    options = tf.CompileOptions(blas=blas, **{name: False for name in off})
    step = tapeflow_models.static_step(weights, spec, lr, options=options)
    step(*batch)
    entry = list(step.session._cache.values())[-1]
    if spec["kind"] == "xor":
        reference = numpy_reference.xor_prealloc(weights, lr)
    else:
        reference = numpy_reference.rnn_prealloc(weights, lr, spec["batch"], spec["steps"])
    return step, entry, batch, reference


def layers(step: Any, entry: Any, batch: Any, reference: Any, calls: int) -> None:
    sess = step.session
    x, y = step.feeds
    feed = {x: batch[0], y: batch[1]}
    ids = {x.node_id: batch[0], y.node_id: batch[1]}
    variables = {vid: sess._store[vid] for vid in entry.read_vars}
    executor = entry.program.executor
    rows = [
        ("numpy-prealloc step", lambda: reference(*batch)),
        ("Session.run (whole step)", lambda: sess.run(step.fetches, feed)),
        ("Executor.run", lambda: executor.run(ids, variables)),
        ("schedule function", lambda: executor._fn(ids, variables)),
    ]
    times = {name: cpu_time(fn, calls) for name, fn in rows}
    base = times["numpy-prealloc step"]
    print(f"{'layer':<28}{'us/call':>10}{'/numpy':>9}")
    for name, seconds in times.items():
        print(f"{name:<28}{seconds * 1e6:>10.2f}{seconds / base:>8.2f}x")
    session = times["Session.run (whole step)"] - times["Executor.run"]
    executor = times["Executor.run"] - times["schedule function"]
    print(f"Session.run overhead: {session * 1e6:.2f} us; "
          f"Executor.run overhead: {executor * 1e6:.2f} us")
    # kernel calls: the registry kernels the plan runs (a fused node is one); numpy calls:
    # the schedule's lines that call into numpy (a kernel written out as its ufunc calls
    # is several; reading a feed or a variable is none)
    ex = entry.program.executor
    lines = len(ex._line_node)
    fused = sum(n.op == "fused" for n in ex.steps)
    print(f"kernel calls per step: {len(ex.steps)} ({fused} of them fused chains); numpy "
          f"calls per step: {lines} lines + {len(ex._prologue)} loads/allocations, "
          f"{times['schedule function'] * 1e6 / max(lines, 1):.2f} us per line")


def line_profile(entry: Any, step: Any, batch: Any, runs: int, top: int) -> None:
    """Runs an instrumented copy of the schedule ``runs`` times; prints the costliest lines
    (each line's median over the runs, so one preempted run does not count)."""
    executor = entry.program.executor
    # the schedule's straight-line body (inside its `with lock:` and `try:`), a clock read
    # after every line
    source = [line.strip() for line in executor.source.splitlines()]
    start, end = source.index("try:") + 1, source.index("except Exception as exc:")
    body = [line for line in source[start:end] if not line.startswith("return")]
    lines = ["def schedule(feeds, variables):", "    _s = _clock()"]
    for k, line in enumerate(body):
        lines += [f"    {line}", f"    _e = _clock(); _t[{k}].append(_e - _s); _s = _e"]
    lines.append(f"    {source[end - 1]}")
    samples: list[list[float]] = [[] for _ in body]
    namespace = dict(executor._ns, _clock=time.perf_counter, _t=samples)
    exec(compile("\n".join(lines) + "\n", "<profiled schedule>", "exec"), namespace)  # noqa: S102
    fn = namespace["schedule"]
    x, y = step.feeds
    ids = {x.node_id: batch[0], y.node_id: batch[1]}
    variables = {vid: step.session._store[vid] for vid in entry.read_vars}
    for _ in range(runs):
        fn(ids, variables)
    totals = [statistics.median(times) * runs for times in samples]
    total = sum(totals)
    print(f"\nschedule lines by time ({len(body)} lines, {runs} runs, "
          f"{total / runs * 1e6:.1f} us/run incl. clock reads):")
    ranked = sorted(range(len(body)), key=lambda k: -totals[k])[:top]
    for k in ranked:
        print(f"{totals[k] / runs * 1e6:9.2f} us {100 * totals[k] / total:5.1f}%  "
              f"{body[k].strip()[:90]}")
    by_op: dict[str, float] = {}
    loads = len(executor._prologue)  # feeds and variables read, fresh arrays allocated
    for k in range(len(body)):
        node = executor._line_node.get(k - loads) if k >= loads else None
        op = "load/alloc" if node is None else node.op
        if node is not None and node.op == "fused":
            op = f"fused({node.attrs['ops']})"
        by_op[op] = by_op.get(op, 0.0) + totals[k]
    print("\nby op:", ", ".join(f"{op} {t / runs * 1e6:.1f} us"
                                 for op, t in sorted(by_op.items(), key=lambda p: -p[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="xor", choices=list(bench_steps.WORKLOADS))
    parser.add_argument("--off", default="", help="CompileOptions switches to turn off, "
                        "comma-separated (e.g. dot_merge)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--blas", default="numpy", help="CompileOptions.blas: numpy, mkl "
                        "or auto (each matmul's library timed at compile time)")
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args()
    off = [s for s in args.off.split(",") if s]
    step, entry, batch, reference = build(args.workload, off, args.dtype, args.blas)
    scale = {"xor": 2000, "rnn": 20, "rnn-large": 1}[args.workload]
    print(f"workload {args.workload}, blas={args.blas!r}, switched off: {off or 'nothing'}; "
          "compiled passes:")
    print(entry.program.format_passes())
    layers(step, entry, batch, reference, scale)
    line_profile(entry, step, batch, max(3, scale // 2), args.top)
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(scale * 5):
            step(*batch)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
