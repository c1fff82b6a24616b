"""Live bytes during one dynamic (eager) training step, sampled after every kernel call.

What it measures, honestly labelled: the bytes of the numpy array buffers alive, above
those alive when the step started (numpy reports every buffer to ``tracemalloc`` in a
domain of its own), taken each time the dynamic front end has run a kernel (forward ops,
gradient ops in backward, and the optimizer's in-place updates): it tells an observer
(``tapeflow.dynamic.interop.observing``), no profiling hook involved. Array buffers are
what the static arena holds too, so the two compare like with like; Python objects such as
tape nodes are left out, which also makes the curve the same, byte for byte, on every run.
Reading tracemalloc slows every kernel down: use this for the shape of the curve and its
peak, never for timing.

Example:
    >>> import numpy as np
    >>> trace = trace_dynamic_step(lambda: np.ones(1000).sum())
    >>> trace.peak_bytes >= 0
    True
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy

from ..dynamic.interop import observing

LABEL = "dynamic: live array bytes after each kernel"
_ARRAYS = [tracemalloc.DomainFilter(True, numpy.lib.tracemalloc_domain)]


def _array_bytes() -> int:
    """Bytes of the numpy buffers traced now (numpy's own tracemalloc domain)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(_ARRAYS)
    return sum(trace.size for trace in snapshot.traces)


@dataclass
class DynamicTrace:
    """Samples of one traced step.

    Attributes:
        live_bytes: array bytes above the start of the step, after each kernel call.
        ops: the registry op of each sample.
        phases: phase name -> (first, last) sample index: forward, backward, update.
        result: what the traced callable returned.
    """

    live_bytes: list[int] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    phases: dict[str, tuple[int, int]] = field(default_factory=dict)
    result: Any = None

    @property
    def peak_bytes(self) -> int:
        return max(self.live_bytes, default=0)


def trace_dynamic_step(step: Callable[[], Any]) -> DynamicTrace:
    """Runs ``step()`` once and samples live array bytes after every kernel call.

    Samples taken before backward starts are the *forward* phase, those inside
    ``backward()`` the *backward* phase, and those after it the *update* phase (the
    optimizer step). The dynamic front end reports each kernel and each backward sweep to
    an observer (``tapeflow.dynamic.interop.observing``) of the calling thread.
    """
    trace = DynamicTrace()
    state = {"phase": "forward"}

    def mark(phase: str) -> None:
        index = len(trace.live_bytes)
        previous = state["phase"]
        if previous in trace.phases:
            start, _ = trace.phases[previous]
            trace.phases[previous] = (start, index - 1)
        trace.phases.setdefault(phase, (index, index))
        state["phase"] = phase

    def observe(event: str, what: Any) -> None:
        if event == "kernel":
            trace.ops.append(str(what))
            trace.live_bytes.append(max(0, _array_bytes() - base))
        elif event in ("backward", "backward_end"):
            mark("backward" if event == "backward" else "update")

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    base = _array_bytes()
    trace.phases["forward"] = (0, 0)
    try:
        with observing(observe):
            trace.result = step()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    end = len(trace.live_bytes) - 1
    start, _ = trace.phases[state["phase"]]
    trace.phases[state["phase"]] = (start, max(start, end))
    trace.phases = {k: v for k, v in trace.phases.items() if v[0] <= end}
    return trace
