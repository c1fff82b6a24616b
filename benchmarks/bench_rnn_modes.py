"""Time per epoch of the four RNN strategies for variable-length sentences, in one run.

The sentiment RNN of ``tapeflow compare`` (same data, same initial weights) trained one
epoch at a time by each mode: dynamic (a graph per batch), static-padded (one graph
unrolled to the longest sentence), static-bucketed (one unrolled graph per length bucket)
and static-while (one graph with a loop, ``tf.nn.dynamic_rnn`` with ``sequence_length``).
Every mode is built and warmed up first (compilation is reported apart, as the first
epoch), then the modes' epochs are interleaved so a slow spell of a shared machine lands
on all of them; the table gives each mode's median epoch time and its ratio to the
bucketed mode, with peak traced bytes of one epoch.

    .venv/bin/python benchmarks/bench_rnn_modes.py [--epochs 3] [--cell rnn] [--dtype float32]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from tapeflow.compare.workloads import rnn

MODES = ("dynamic", "static-padded", "static-bucketed", "static-while")


def epoch(trainer, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        trainer.step(batch)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per mode")
    parser.add_argument("--cell", choices=("rnn", "lstm"), default="rnn")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--batches-per-length", type=int, default=1)
    args = parser.parse_args()
    workload = rnn(args.dtype, seed=0, batches_per_length=args.batches_per_length,
                   cell=args.cell)
    modes = {m.name: m for m in workload.modes if m.name in MODES}
    trainers, first, peaks = {}, {}, {}
    for name, mode in modes.items():
        start = time.perf_counter()
        trainers[name] = mode.make()
        first[name] = epoch(trainers[name], workload.batches) + time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.epochs):
        for name in modes:
            times[name].append(epoch(trainers[name], workload.batches))
    for name in modes:
        tracemalloc.start()
        epoch(trainers[name], workload.batches)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    base = statistics.median(times["static-bucketed"])
    print(f"RNN ({args.cell}, {args.dtype}), {len(workload.batches)} batches per epoch, "
          f"median of {args.epochs} interleaved epochs")
    print("| mode | epoch (ms) | / bucketed | first epoch incl. build (ms) | peak (KiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in modes:
        median = statistics.median(times[name])
        print(f"| {name} | {median * 1e3:.1f} | {median / base:.2f} | "
              f"{first[name] * 1e3:.1f} | {peaks[name] / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
