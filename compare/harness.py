"""The side-by-side harness: trains every mode of a workload on the same batches from the
same weights, times and measures each the same way, and checks that they agree.

Agreement is judged in lockstep: at every step of the reference mode's trajectory, every
mode computes the loss and each gradient from the reference's weights on that step's
batch, and these must match the reference's to the dtype's tolerance. The free-running
trajectories (each mode training on its own) are reported, not judged: rounding
differences, amplified by training, make them part after enough steps (see
:mod:`tapeflow.compare.agreement_report`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    held_out_accuracy: float | None = None  # on sentences never trained on (None: no split)

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
            "held_out_accuracy": self.held_out_accuracy,
            **self.stats,
        }


@dataclass
class Lockstep:
    """One mode against the reference, step by step, both starting from the reference
    trajectory's weights on the same batch: the relative difference of the loss and of
    every gradient (``max |g - g_ref| / max |g_ref|``, so tiny entries do not blow up)."""

    loss: list[float]
    grads: dict[str, list[float]]

    @property
    def per_step(self) -> list[float]:
        """The worst figure (loss or any gradient) at each step."""
        return [max(column) for column in zip(self.loss, *self.grads.values(), strict=True)]

    @property
    def worst(self) -> float:
        return max(self.per_step, default=0.0)

    def to_json(self) -> dict[str, Any]:
        per_step = self.per_step
        return {
            "max_loss_difference": max(self.loss, default=0.0),
            "max_gradient_difference": {k: max(v, default=0.0) for k, v in self.grads.items()},
            "worst": self.worst,
            "worst_step": 1 + int(np.argmax(per_step)) if per_step else None,
            "per_step": per_step,
        }


@dataclass
class FreeRun:
    """One mode's own trajectory against the reference's: reported, not judged."""

    relative: list[float]  # per step: |loss - reference loss| / |reference loss|
    horizon: int | None  # the first step (from 1) beyond tolerance; None if none is
    first_bit_difference: int | None  # the first step whose loss differs in any bit

    @property
    def bit_identical(self) -> bool:
        return self.first_bit_difference is None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_relative_loss_difference": max(self.relative, default=0.0),
            "divergence_horizon": self.horizon,
            "bit_identical": self.bit_identical,
            "first_bit_difference": self.first_bit_difference,
            "relative_loss_difference": self.relative,
        }


@dataclass
class WorkloadResult:
    workload: str
    dtype: str
    steps: int
    results: list[ModeResult]
    agreement: dict[str, float]  # mode -> worst lockstep difference (loss or any gradient)
    tolerance: float
    info: dict[str, Any]
    lockstep: dict[str, Lockstep] = field(default_factory=dict)  # every mode but the reference
    free: dict[str, FreeRun] = field(default_factory=dict)
    exact: bool = False  # static modes compiled to do dynamic mode's arithmetic in its order
    reference: str = "dynamic"

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
                "reference": self.reference,
                "tolerance": self.tolerance,
                "agree": self.agrees,
                "lockstep": {m: v.to_json() for m, v in self.lockstep.items()},
                "free_running": {m: v.to_json() for m, v in self.free.items()},
                "exact": self.exact,
                "bit_identical": all(v.bit_identical for v in self.free.values()),
            },
        }


def run_mode(
    workload: Workload,
    mode: Mode,
    steps: int,
    progress: Callable[[int], None] | None = None,
    trajectory: list[dict[str, np.ndarray]] | None = None,
) -> tuple[ModeResult, Any]:
    """Trains ``mode`` for ``steps``; returns its figures and the trainer. ``trajectory``,
    when given, receives the weights before every step (not timed)."""
    batches = workload.batches
    args_of = workload.step_args

    def build_and_first_step() -> tuple[Any, float]:
        trainer = mode.make()
        if trajectory is not None:
            trajectory.append(trainer.weights())
        return trainer, trainer.step(*args_of(batches[0]))

    start = time.perf_counter()
    first_peak, (trainer, first_loss) = peak_bytes(build_and_first_step)
    build_seconds = time.perf_counter() - start
    losses, step_seconds = [first_loss], []
    if progress:
        progress(1)
    for i in range(1, steps):
        args = args_of(batches[i % len(batches)])
        if trajectory is not None:
            trajectory.append(trainer.weights())
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
    held_out = accuracy(trainer, workload, workload.held_out) if workload.held_out else None
    result = ModeResult(
        mode.name,
        mode.style,
        [float(v) for v in losses],
        build_seconds,
        step_seconds,
        first_peak,
        step_peak,
        accuracy(trainer, workload, batches),
        stats,
        held_out,
    )
    return result, trainer


def accuracy(trainer: Any, workload: Workload, batches: list[Any]) -> float:
    """The share of examples in ``batches`` that ``trainer`` classifies right."""
    correct = total = 0
    for batch in batches:
        predicted = _host(trainer.predict(workload.step_args(batch)[0]))
        labels = workload.labels_of(batch)
        correct += int((predicted == labels).sum())
        total += len(labels)
    return correct / total


def run_workload(
    workload: Workload,
    steps: int,
    dtype: str,
    progress_factory: Callable[[str, int], Any] | None = None,
) -> WorkloadResult:
    """Trains every mode free-running, then checks every mode in lockstep with the
    reference (see the module docstring)."""
    tune_heap()  # once, before any mode runs: every mode is measured on the same heap
    results, trainers, trajectory = [], {}, []
    ordered = sorted(workload.modes, key=lambda m: m.name != workload.reference)
    for mode in ordered:  # the reference first: its weights are every mode's lockstep start
        bar = progress_factory(f"{workload.name} {mode.name}", steps) if progress_factory else None
        record = trajectory if mode.name == workload.reference else None
        try:
            result, trainers[mode.name] = run_mode(
                workload, mode, steps, bar.update if bar else None, record
            )
        finally:
            if bar:
                bar.close()
        results.append(result)
    results.sort(key=lambda r: [m.name for m in workload.modes].index(r.mode))
    tolerance = TOLERANCE[dtype]
    reference = next(r for r in results if r.mode == workload.reference)
    lockstep = check_lockstep(workload, trainers, trajectory, progress_factory)
    free = {
        r.mode: free_run(r.losses, reference.losses, tolerance)
        for r in results
        if r is not reference
    }
    return WorkloadResult(
        workload.name,
        dtype,
        steps,
        results,
        {mode: check.worst for mode, check in lockstep.items()},
        tolerance,
        dict(workload.info),
        lockstep,
        free,
        workload.exact,
        workload.reference,
    )


def check_lockstep(
    workload: Workload,
    trainers: dict[str, Any],
    trajectory: list[dict[str, np.ndarray]],
    progress_factory: Callable[[str, int], Any] | None = None,
) -> dict[str, Lockstep]:
    """Every mode's loss and gradients at the reference's weights of every step, against
    the reference's own: one :class:`Lockstep` per mode other than the reference."""
    batches = workload.batches
    others = [name for name in trainers if name != workload.reference]
    checks = {name: Lockstep([], {}) for name in others}
    label = f"{workload.name} lockstep"
    bar = progress_factory(label, len(trajectory)) if progress_factory else None
    try:
        for i, weights in enumerate(trajectory):
            args = workload.step_args(batches[i % len(batches)])
            ref_loss, ref_grads = trainers[workload.reference].loss_and_grads(weights, *args)
            for name in others:
                loss, grads = trainers[name].loss_and_grads(weights, *args)
                checks[name].loss.append(relative_difference(loss, ref_loss))
                for key, ref in ref_grads.items():
                    diff = relative_difference(grads[key], ref)
                    checks[name].grads.setdefault(key, []).append(diff)
            if bar:
                bar.update(1)
    finally:
        if bar:
            bar.close()
    return checks


def free_run(losses: list[float], reference: list[float], tolerance: float) -> FreeRun:
    """How one free-running trajectory's losses part from the reference's."""
    relative = [relative_difference(a, b) for a, b in zip(losses, reference, strict=True)]
    beyond = [i + 1 for i, r in enumerate(relative) if r > tolerance]
    parted = [i + 1 for i, (a, b) in enumerate(zip(losses, reference, strict=True)) if a != b]
    return FreeRun(relative, beyond[0] if beyond else None, parted[0] if parted else None)


def relative_difference(value: Any, reference: Any) -> float:
    """``max |value - reference| / max |reference|`` (a floor keeps zero references finite)."""
    x = _host(value).astype(np.float64)
    y = _host(reference).astype(np.float64)
    if x.shape != y.shape:
        return float("inf")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(y))), 1e-30))


def max_relative_difference(a: list[float], b: list[float]) -> float:
    """The largest per-step relative difference of two loss curves."""
    if len(a) != len(b):
        return float("inf")
    return max((relative_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)


def _host(value: Any) -> np.ndarray:
    """A numpy copy of a host or device (cupy) array or scalar."""
    return np.asarray(value.get() if hasattr(value, "get") and not isinstance(value, dict)
                      else value)
