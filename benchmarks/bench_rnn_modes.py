"""Time per epoch of the four RNN strategies for variable-length sentences, in one run.

The sentiment RNN of ``tapeflow compare`` (same data, same initial weights) trained one
epoch at a time by each mode: dynamic (a graph per batch), static-padded (one graph
unrolled to the longest sentence), static-bucketed (one unrolled graph per length bucket)
and static-while (one graph with a loop, ``tf.nn.dynamic_rnn`` with ``sequence_length``).
Every mode is built and warmed up first (compilation is reported apart, as the first
epoch), then the modes' epochs are interleaved so a slow spell of a shared machine lands
on all of them; the table gives each mode's median epoch, as wall time and as CPU time of
the process (steadier on a loaded machine; BLAS runs on one thread), the CPU-time ratio to
the bucketed mode, and the peak traced bytes of one epoch. ``bench_steps.py`` prints this
table for the Elman and the LSTM cell.

    .venv/bin/python benchmarks/bench_rnn_modes.py [--epochs 5] [--cell rnn] [--dtype float32]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

from tapeflow.compare.workloads import rnn  # noqa: E402

MODES = ("dynamic", "static-padded", "static-bucketed", "static-while")


def epoch(trainer, batches) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one epoch."""
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        trainer.step(batch)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(cell: str, dtype: str, epochs: int, batches_per_length: int = 1) -> dict:
    """Every mode's first epoch (with its build), median epoch (wall, CPU) and peak bytes."""
    workload = rnn(dtype, seed=0, batches_per_length=batches_per_length, cell=cell)
    modes = {m.name: m for m in workload.modes if m.name in MODES}
    trainers, rows = {}, {}
    for name, mode in modes.items():
        start = time.perf_counter()
        trainers[name] = mode.make()
        first = epoch(trainers[name], workload.batches)[0] + time.perf_counter() - start
        rows[name] = {"first_ms": first * 1e3, "wall": [], "cpu": []}
    for _ in range(epochs):
        for name in modes:
            wall, cpu = epoch(trainers[name], workload.batches)
            rows[name]["wall"].append(wall)
            rows[name]["cpu"].append(cpu)
    for name in modes:
        tracemalloc.start()
        epoch(trainers[name], workload.batches)
        rows[name]["peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"cell": cell, "dtype": dtype, "epochs": epochs, "batches": len(workload.batches),
            "iterations": sum(b.max_length for b in workload.batches), "modes": rows}


def table(result: dict) -> str:
    """The markdown table of :func:`measure`'s result."""
    rows = result["modes"]
    base = statistics.median(rows["static-bucketed"]["cpu"])
    lines = [f"RNN per epoch ({result['cell']}, {result['dtype']}): {result['batches']} batches, "
             f"{result['iterations']} time steps in all, median of {result['epochs']} "
             "interleaved epochs",
             "| mode | epoch wall (ms) | epoch CPU (ms) | CPU / bucketed | first epoch incl. "
             "build (ms) | peak (KiB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in rows.items():
        cpu = statistics.median(row["cpu"])
        lines.append(f"| {name} | {statistics.median(row['wall']) * 1e3:.1f} | {cpu * 1e3:.1f} "
                     f"| {cpu / base:.2f} | {row['first_ms']:.1f} | "
                     f"{row['peak_bytes'] / 1024:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per mode")
    parser.add_argument("--cell", choices=("rnn", "lstm"), default="rnn")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--batches-per-length", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args()
    result = measure(args.cell, args.dtype, args.epochs, args.batches_per_length)
    print(table(result))
    if args.json:  # (last line: bench_steps.py reads it)
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
