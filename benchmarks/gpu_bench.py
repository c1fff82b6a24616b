"""The GPU half of benchmarks/gpu_check.sh: agreement, memory-pool growth, step times.

1. XOR and RNN train on the GPU in both modes (static with CUDA-graph replay and without)
   and must agree with the same training on the CPU to 1e-9 (float64), step by step;
2. the memory pool must stay flat across 1,000 static steps after the first;
3. median step times of dynamic, static and static + CUDA-graph replay, as ratios to
   dynamic, with each mode's peak device memory (cupy's pools, sampled after every step).

Exits 1 if an agreement or memory check fails; the speed targets (replay >= 5x dynamic on
XOR, >= 2x on the RNN) are reported, not enforced (timings belong to a machine).

    python benchmarks/gpu_bench.py [--steps 50] [--timed 300] [--pool-steps 1000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_models as models  # noqa: E402

WORKLOADS = {"xor": models.XOR, "rnn": models.RNN}
TARGETS = {"xor": 5.0, "rnn": 2.0}
MODES = {
    "dynamic": lambda spec, dev: models.dynamic_step(spec, dev),
    "static": lambda spec, dev: models.static_step(spec, dev, cuda_graph=False),
    "static+graph": lambda spec, dev: models.static_step(spec, dev, cuda_graph=True),
}


def _pools() -> tuple[Any, ...]:
    import cupy

    return cupy, cupy.get_default_memory_pool()


def _device_used() -> int:
    """Bytes in use on the device (every pool, the graphs' own included, cuBLAS, context)."""
    cupy, _ = _pools()
    free, total = cupy.cuda.runtime.memGetInfo()
    return int(total - free)


def agreement(name: str, spec: dict[str, Any], steps: int) -> bool:
    ok = True
    for mode in MODES:
        runs = {}
        for device in ("cpu", "gpu"):
            if device == "cpu" and mode == "static+graph":
                continue
            step = MODES[mode](spec, device)
            losses = np.array([step() for _ in range(steps)])
            runs[device] = (losses, step.weights(), getattr(step, "plan", None))
        cpu_losses, cpu_weights, _ = runs.get("cpu") or (
            *_reference(name, spec, steps), None)
        gpu_losses, gpu_weights, plan = runs["gpu"]
        worst = max(_rel(gpu_losses, cpu_losses),
                    *(_rel(gpu_weights[k], cpu_weights[k]) for k in cpu_weights))
        good = worst <= 1e-9
        ok &= good
        how = f"   [{plan().execution}]" if plan is not None else ""
        print(f"  {name:<4} {mode:<13} {steps} steps: max rel. diff GPU vs CPU {worst:.2e} "
              f"{'ok' if good else 'FAIL'}{how}")
    return ok


_CPU_STATIC: dict[str, Any] = {}


def _reference(name: str, spec: dict[str, Any], steps: int) -> tuple[Any, Any]:
    # static + graph is compared with the CPU static run (the same graph, the same passes)
    if name not in _CPU_STATIC:
        step = MODES["static"](spec, "cpu")
        _CPU_STATIC[name] = (np.array([step() for _ in range(steps)]), step.weights())
    return _CPU_STATIC[name]


def _rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def pool_growth(name: str, spec: dict[str, Any], steps: int) -> bool:
    cupy, pool = _pools()
    ok = True
    for mode in ("static", "static+graph"):
        gc.collect()
        step = MODES[mode](spec, "gpu")
        step()
        first = (pool.used_bytes(), pool.total_bytes())
        used, total = [], []
        for _ in range(steps - 1):
            step()
            used.append(pool.used_bytes())
            total.append(pool.total_bytes())
        flat = max(used) == min(used) == first[0] and max(total) == first[1]
        ok &= flat
        print(f"  {name:<4} {mode:<13} pool after step 1: used {first[0]:>9} B, held "
              f"{first[1]:>9} B; steps 2..{steps}: used {min(used)}..{max(used)} B, held "
              f"{min(total)}..{max(total)} B  {'flat' if flat else 'GROWS'}")
        del step
    return ok


def timings(name: str, spec: dict[str, Any], timed: int) -> dict[str, tuple[float, int, int]]:
    cupy, pool = _pools()
    out = {}
    for mode, factory in MODES.items():
        gc.collect()
        pool.free_all_blocks()
        before = _device_used()
        step = factory(spec, "gpu")
        for _ in range(20):
            step()
        peak = peak_device = 0
        times = []
        for _ in range(timed):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
            peak = max(peak, pool.total_bytes())
            peak_device = max(peak_device, _device_used() - before)
        out[mode] = (statistics.median(times), peak, peak_device)
        del step
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--timed", type=int, default=300)
    parser.add_argument("--pool-steps", type=int, default=1000)
    args = parser.parse_args()
    cupy, _ = _pools()
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"device: {props['name'].decode()}, cupy {cupy.__version__}, CUDA runtime "
          f"{cupy.cuda.runtime.runtimeGetVersion()}")
    ok = True
    print(f"\n== agreement with the CPU (float64, rtol 1e-9, {args.steps} training steps)")
    for name, spec in WORKLOADS.items():
        ok &= agreement(name, spec, args.steps)
    print(f"\n== memory pool across {args.pool_steps} static steps (must be flat after the first)")
    for name, spec in WORKLOADS.items():
        ok &= pool_growth(name, spec, args.pool_steps)
    print(f"\n== step times on the GPU (median of {args.timed} steps after 20 warm-up steps; "
          "each step ends with the loss on the host)")
    print(f"  {'workload':<8} {'mode':<13} {'ms/step':>9} {'dynamic/mode':>13} "
          f"{'peak pool MiB':>14} {'peak device MiB':>16}")
    for name, spec in WORKLOADS.items():
        results = timings(name, spec, args.timed)
        base = results["dynamic"][0]
        for mode, (median, peak, device) in results.items():
            print(f"  {name:<8} {mode:<13} {median * 1e3:>9.3f} {base / median:>12.2f}x "
                  f"{peak / 2**20:>14.2f} {device / 2**20:>16.2f}")
        ratio = base / results["static+graph"][0]
        met = "met" if ratio >= TARGETS[name] else "MISSED"
        print(f"  target {name}: static+graph >= {TARGETS[name]:.0f}x dynamic: {ratio:.2f}x {met}")
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
