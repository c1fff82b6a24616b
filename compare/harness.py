"""The side-by-side harness: trains every mode of a workload on the same batches from the
same weights, times and measures each the same way, and checks that they agree."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..dynamic.heap import tune_heap
from ..runtime import peak_bytes
from . import introspect
from .workloads import Mode, Workload

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


@dataclass
class ModeResult:
    mode: str
    style: str
    losses: list[float]
    build_seconds: float  # constructing the model/graph plus the first step (with compiling)
    step_seconds: list[float]  # every later step
    peak_first_step_bytes: int  # tracemalloc peak while building and running the first step
    peak_step_bytes: int  # tracemalloc peak of one steady-state step
    accuracy: float
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def median_step(self) -> float:
        return statistics.median(self.step_seconds) if self.step_seconds else float("nan")

    def summary(self) -> dict[str, Any]:
        times = sorted(self.step_seconds)
        quartile = (lambda q: times[min(len(times) - 1, int(q * len(times)))]) if times else None
        return {
            "mode": self.mode,
            "style": self.style,
            "build_seconds": self.build_seconds,
            "median_step_seconds": self.median_step,
            "step_seconds_p25": quartile(0.25) if quartile else None,
            "step_seconds_p75": quartile(0.75) if quartile else None,
            "step_seconds_min": times[0] if times else None,
            "step_seconds_max": times[-1] if times else None,
            "steps_per_second": 1.0 / self.median_step if self.step_seconds else None,
            "peak_first_step_bytes": self.peak_first_step_bytes,
            "peak_step_bytes": self.peak_step_bytes,
            "final_loss": self.losses[-1],
            "accuracy": self.accuracy,
            **self.stats,
        }


@dataclass
class WorkloadResult:
    workload: str
    dtype: str
    steps: int
    results: list[ModeResult]
    agreement: dict[str, float]  # mode -> max relative loss difference to the reference
    tolerance: float
    info: dict[str, Any]

    @property
    def agrees(self) -> bool:
        return all(diff <= self.tolerance for diff in self.agreement.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "dtype": self.dtype,
            "steps": self.steps,
            "info": self.info,
            "modes": {r.mode: r.summary() for r in self.results},
            "losses": {r.mode: r.losses for r in self.results},
            "agreement": {
                "max_relative_loss_difference": self.agreement,
                "tolerance": self.tolerance,
                "agree": self.agrees,
            },
        }


def run_mode(
    workload: Workload, mode: Mode, steps: int, progress: Callable[[int], None] | None = None
) -> ModeResult:
    batches = workload.batches
    args_of = workload.step_args

    def build_and_first_step() -> tuple[Any, float]:
        trainer = mode.make()
        return trainer, trainer.step(*args_of(batches[0]))

    start = time.perf_counter()
    first_peak, (trainer, first_loss) = peak_bytes(build_and_first_step)
    build_seconds = time.perf_counter() - start
    losses, step_seconds = [first_loss], []
    if progress:
        progress(1)
    for i in range(1, steps):
        args = args_of(batches[i % len(batches)])
        t0 = time.perf_counter()
        loss = trainer.step(*args)
        step_seconds.append(time.perf_counter() - t0)
        losses.append(loss)
        if progress:
            progress(1)
    # the steady-state peak, measured after timing (tracemalloc slows every allocation)
    step_peak, _ = peak_bytes(lambda: trainer.step(*args_of(batches[steps % len(batches)])))
    stats = introspect.stats(mode, trainer, workload)
    if len(batches) > 1 and len(step_seconds) >= len(batches):  # the last full epoch
        stats["epoch_seconds"] = sum(step_seconds[-len(batches) :])
    correct = total = 0
    for batch in batches:
        predicted = np.asarray(trainer.predict(args_of(batch)[0]))
        labels = workload.labels_of(batch)
        correct += int((predicted == labels).sum())
        total += len(labels)
    return ModeResult(
        mode.name,
        mode.style,
        [float(v) for v in losses],
        build_seconds,
        step_seconds,
        first_peak,
        step_peak,
        correct / total,
        stats,
    )


def run_workload(
    workload: Workload,
    steps: int,
    dtype: str,
    progress_factory: Callable[[str, int], Any] | None = None,
) -> WorkloadResult:
    tune_heap()  # once, before any mode runs: every mode is measured on the same heap
    results = []
    for mode in workload.modes:
        bar = progress_factory(f"{workload.name} {mode.name}", steps) if progress_factory else None
        try:
            results.append(run_mode(workload, mode, steps, bar.update if bar else None))
        finally:
            if bar:
                bar.close()
    reference = next(r for r in results if r.mode == workload.reference)
    agreement = {
        r.mode: max_relative_difference(r.losses, reference.losses)
        for r in results
        if r is not reference
    }
    return WorkloadResult(
        workload.name, dtype, steps, results, agreement, TOLERANCE[dtype], dict(workload.info)
    )


def max_relative_difference(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return float("inf")
    scale = np.maximum(np.abs(y), 1e-12)
    return float(np.max(np.abs(x - y) / scale)) if x.size else 0.0


def as_dict(result: ModeResult) -> dict[str, Any]:
    return asdict(result)
