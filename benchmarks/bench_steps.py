"""Training-step benchmark: tapeflow static and dynamic against numpy and peer frameworks.

For XOR (2-5-2, MSE, SGD), RNN (Elman tanh, B=32, T=20, D=32, H=128, softmax
cross-entropy, SGD) and RNN-large (B=64, T=50, D=128, H=512), every configuration runs
in fresh processes and reports its median step time (forward + backward + update) with
the min and max over repeats, its first-step (build/compile) time and its peak traced
bytes. The table gives every ratio to the preallocated-numpy step measured in the same
run. Peers (PyTorch eager, a TF1-style Session, JAX jit) run when installed. With the rnn
workload it then prints, per cell (Elman, LSTM), the time per epoch of the four ways to
train on variable-length sentences (dynamic, static-padded, static-bucketed and
static-while: ``bench_rnn_modes.py``), measured in one process, with each one's ratio to
the bucketed mode.

Every configuration gets the same BLAS/OpenMP thread count (``--threads``, default 1), is
pinned to that many CPUs (the "cores used" column shows what it used), runs on the same
heap settings (``tapeflow.dynamic.heap.tune_heap``, glibc) and in the same dtype
(``--dtype``, default float32); ``--rounds`` interleaves the configurations' processes
so that a slow spell of a shared machine does not land on one of them only. For the RNNs,
``numpy-gemms-only`` times just the matrix products of the step, in BLAS's fastest layout:
the floor under any schedule of this arithmetic on this machine. The ``-blas-auto`` rows
run the same steps with GEMM provider "auto" (``runtime/blas.py``): the static step with
``CompileOptions(blas="auto")``, the dynamic one after
``torch.backends.blas.set_provider("auto")``.

    .venv/bin/python benchmarks/bench_steps.py [--quick] [--threads N] [--dtype float64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

# the workloads, their weights and data: one definition, shared with the report's GEMM
# section (compare/step_models.py)
from tapeflow.compare.step_models import LR, WORKLOADS, make_data

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# ---- step factories: name -> (weights, spec) -> step(*batch) -> loss ------------------


def numpy_step(variant: str):
    def factory(weights, spec):
        import numpy_reference as ref

        lr = LR[spec["kind"]]
        if spec["kind"] == "xor":
            return (
                ref.xor_plain(weights, lr) if variant == "plain" else ref.xor_prealloc(weights, lr)
            )
        if variant == "plain":
            return ref.rnn_plain(weights, lr)
        if variant == "gemms":
            return ref.rnn_gemms_only(weights, spec["batch"], spec["steps"])
        return ref.rnn_prealloc(
            weights, lr, spec["batch"], spec["steps"], hoisted=variant == "hoisted"
        )

    return factory


def tapeflow_static_step(weights, spec):
    import tapeflow_models

    return tapeflow_models.static_step(weights, spec, LR[spec["kind"]])


def tapeflow_dynamic_step(weights, spec):
    import tapeflow_models

    return tapeflow_models.dynamic_step(weights, spec, LR[spec["kind"]])


def peer_step(name: str):
    def factory(weights, spec):
        import peer_models

        return getattr(peer_models, name)(weights, spec, LR[spec["kind"]])

    return factory


# ---- GEMM providers (runtime/blas.py): the static step with CompileOptions(blas="auto"),
# the dynamic step with set_provider("auto"), and the static step's GEMMs alone with the
# same per-product choices (bench_blas_providers.py) ---------------------------------------


def tapeflow_static_blas_step(weights, spec):
    import tapeflow_models
    from tapeflow.static.compiler import CompileOptions

    return tapeflow_models.static_step(weights, spec, LR[spec["kind"]],
                                       options=CompileOptions(blas="auto"))


def tapeflow_dynamic_blas_step(weights, spec):
    # the dynamic step with this thread's GEMM provider "auto" (torch.backends.blas): each
    # new product shape is timed once, forward and backward, and its fastest library kept
    import tapeflow.dynamic as torch

    torch.backends.blas.set_provider("auto")
    return tapeflow_dynamic_step(weights, spec)


def gemms_chosen_step(weights, spec):
    import bench_blas_providers

    return bench_blas_providers.rnn_gemms_chosen(spec)


CONFIGS = {
    "numpy": numpy_step("plain"),
    "numpy-prealloc": numpy_step("prealloc"),
    "numpy-hoisted": numpy_step("hoisted"),
    "numpy-gemms-only": numpy_step("gemms"),
    "numpy-gemms-auto": gemms_chosen_step,
    "tapeflow-static": tapeflow_static_step,
    "tapeflow-static-blas-auto": tapeflow_static_blas_step,
    "tapeflow-dynamic": tapeflow_dynamic_step,
    "tapeflow-dynamic-blas-auto": tapeflow_dynamic_blas_step,
    "torch-eager": peer_step("torch_eager"),
    "tf1-session": peer_step("tf1_session"),
    "jax-jit": peer_step("jax_jit"),
}
PEER_MODULES = {"torch-eager": "torch", "tf1-session": "tensorflow", "jax-jit": "jax"}


def worker(workload: str, config: str, repeats: int, steps_per_repeat: int, dtype: str) -> dict:
    """Runs in its own process: time one configuration on one workload."""
    spec = {**WORKLOADS[workload], "dtype": dtype}
    if config.startswith(("numpy-hoisted", "numpy-gemms")) and spec["kind"] != "rnn":
        return {"skipped": "RNN only"}
    module = PEER_MODULES.get(config)
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            return {"skipped": f"{module} is not installed"}
    from tapeflow.dynamic.heap import tune_heap

    tune_heap()  # every configuration on the same heap, as `tapeflow compare` does
    weights, batch = make_data(spec)
    t0 = time.perf_counter()
    step = CONFIGS[config](weights, spec)
    first_loss = step(*batch)
    first_step = time.perf_counter() - t0
    for _ in range(3):  # warm up caches and allocators
        step(*batch)
    medians = []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        times = []
        for _ in range(steps_per_repeat):
            t = time.perf_counter()
            step(*batch)
            times.append(time.perf_counter() - t)
        medians.append(statistics.median(times) * 1e6)
    # CPU seconds of the whole process per second of wall time: the cores it really used
    cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
    tracemalloc.start()
    step(*batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "repeat_medians_us": medians,
        "cores_used": cores,
        "first_step_ms": first_step * 1e3,
        "peak_step_bytes": peak,
        "first_loss": float(first_loss),
    }


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_in_process(
    workload: str, config: str, repeats: int, steps: int, threads: int, dtype: str
) -> dict:
    cmd = [sys.executable, __file__, "--worker", workload, config, str(repeats), str(steps), dtype]
    # every configuration gets the same number of BLAS/OpenMP threads (torch reads them too)
    env = os.environ.copy()
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "bench_steps.json")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads for every configuration (default 1: on a "
                             "shared 2-core machine more threads measure contention)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="dtype of weights and inputs in every configuration (default "
                             "float32, the default of PyTorch, TensorFlow and JAX)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each configuration runs, interleaved with the others, "
                             "each in a fresh process (default 3)")
    parser.add_argument("--epochs", type=int, default=5,
                        help="with the rnn workload: timed epochs of the four RNN strategies "
                             "(bench_rnn_modes.py) per cell, 0 to skip (--quick: 1)")
    parser.add_argument("--cells", default="rnn,lstm",
                        help="cells of the RNN strategies table (default rnn,lstm)")
    parser.add_argument("--worker", nargs=5,
                        metavar=("WORKLOAD", "CONFIG", "REPEATS", "STEPS", "DTYPE"))
    args = parser.parse_args()
    if args.worker:
        workload, config, repeats, steps, dtype = args.worker
        # pinned to as many CPUs as BLAS threads: frameworks with thread pools of their own
        # (XLA, TensorFlow's) get no more cores than the rest
        cpus = sorted(os.sched_getaffinity(0))[: int(os.environ["OMP_NUM_THREADS"])]
        os.sched_setaffinity(0, cpus)
        print(json.dumps(worker(workload, config, int(repeats), int(steps), dtype)))
        return 0
    configs = args.configs.split(",")
    results: dict[str, dict[str, dict]] = {}
    for workload in args.workloads.split(","):
        large = workload == "rnn-large"
        repeats = 3 if (args.quick or large) else 5
        steps = (3 if large else 20) if args.quick else (5 if large else 50)
        runs: dict[str, list[dict]] = {config: [] for config in configs}
        # rounds interleave the configurations, so a slow spell of a shared machine lands on
        # all of them rather than on whichever happened to run then
        for round_ in range(args.rounds):
            for config in configs:
                run = run_in_process(workload, config, repeats, steps, args.threads, args.dtype)
                runs[config].append(run)
                print(f"  round {round_ + 1}/{args.rounds} {workload:<10} {config:<17} "
                      f"{_brief(run)}", file=sys.stderr)
        results[workload] = {config: combine(runs[config]) for config in configs}
    print(f"BLAS/OpenMP threads per configuration: {args.threads}; dtype: {args.dtype}; "
          f"{args.rounds} interleaved rounds of one process per configuration")
    print(markdown(results))
    epochs = min(args.epochs, 1) if args.quick else args.epochs
    strategies = {}
    if "rnn" in args.workloads.split(",") and epochs > 0:
        strategies = rnn_strategies(args.cells.split(","), epochs, args.threads, args.dtype)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"threads": args.threads, "dtype": args.dtype, "results": results,
                    "rnn_strategies": strategies}, indent=1)
    )
    print(f"\nwrote {args.json}")
    return 0


def rnn_strategies(cells: list[str], epochs: int, threads: int, dtype: str) -> dict:
    """Per cell, the four RNN strategies' epochs (dynamic, static-padded, static-bucketed,
    static-while) measured in one process of ``bench_rnn_modes.py``, interleaved, pinned
    like the step configurations; prints each table (ratios to the bucketed mode)."""
    import bench_rnn_modes

    env = os.environ.copy()
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    found = {}
    for cell in cells:
        proc = subprocess.run(
            [sys.executable, str(HERE / "bench_rnn_modes.py"), "--cell", cell, "--epochs",
             str(epochs), "--dtype", dtype, "--json"], capture_output=True, text=True, env=env,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        if proc.returncode != 0:
            print(f"\nRNN strategies ({cell}): failed: {proc.stderr.strip()[-300:]}")
            continue
        found[cell] = json.loads(proc.stdout.strip().splitlines()[-1])
        print()
        print(bench_rnn_modes.table(found[cell]))
    return found


def combine(runs: list[dict]) -> dict:
    """One configuration's processes as one result: the median and range of every repeat's
    median step, the median first step, the largest peak."""
    done = [r for r in runs if "repeat_medians_us" in r]
    if not done:
        return runs[0]
    medians = [m for r in done for m in r["repeat_medians_us"]]
    return {
        "median_us": statistics.median(medians),
        "min_us": min(medians),
        "max_us": max(medians),
        "repeats": len(medians),
        "processes": len(done),
        "cores_used": statistics.median(r["cores_used"] for r in done),
        "first_step_ms": statistics.median(r["first_step_ms"] for r in done),
        "peak_step_bytes": max(r["peak_step_bytes"] for r in done),
        "first_loss": done[0]["first_loss"],
    }


def _brief(r: dict) -> str:
    if "repeat_medians_us" in r:
        return f"{statistics.median(r['repeat_medians_us']):.0f} us"
    if "median_us" in r:
        return f"{r['median_us']:.0f} us"
    return r.get("skipped") or r.get("error", "?")


def markdown(results: dict[str, dict[str, dict]]) -> str:
    lines = [
        "| workload | config | median µs/step | min–max µs | ratio to numpy-prealloc | "
        "cores used | first step ms | peak step bytes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload, configs in results.items():
        base = configs.get("numpy-prealloc", {}).get("median_us")
        for config, r in configs.items():
            if "median_us" not in r:
                lines.append(
                    f"| {workload} | {config} | {r.get('skipped') or r.get('error')} | | | | | |"
                )
                continue
            ratio = f"{r['median_us'] / base:.2f}x" if base else "-"
            lines.append(
                f"| {workload} | {config} | {r['median_us']:.0f} | "
                f"{r['min_us']:.0f}–{r['max_us']:.0f} | {ratio} | {r['cores_used']:.2f} | "
                f"{r['first_step_ms']:.1f} | {r['peak_step_bytes']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
