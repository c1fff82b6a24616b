"""Live bytes during one dynamic (eager) training step, sampled after every kernel call.

What it measures, honestly labelled: ``tracemalloc``'s *current traced bytes* (numpy
reports its array buffers to it; Python objects such as tape nodes count too), relative to
the moment the step started, taken each time the dynamic front end's kernel runner
returns (forward ops, gradient ops in backward, and the optimizer's in-place updates).
The samples come from a profile hook, so the step runs several times slower while traced:
use this for the shape of the curve and its peak, never for timing.

Example:
    >>> import numpy as np
    >>> trace = trace_dynamic_step(lambda: np.ones(1000).sum())
    >>> trace.peak_bytes >= 0
    True
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

LABEL = "dynamic: live traced bytes after each kernel (tracemalloc, incl. tape objects)"


@dataclass
class DynamicTrace:
    """Samples of one traced step.

    Attributes:
        live_bytes: traced bytes above the start of the step, after each kernel call.
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


def _kernel_runners() -> set[CodeType]:
    """The code objects whose return marks one finished kernel call in dynamic mode."""
    codes: set[CodeType] = set()
    try:
        from ..dynamic import dispatch

        runner = getattr(dispatch, "_run", None)
        if runner is not None:
            codes.add(runner.__code__)
    except ImportError:
        pass
    if not codes:  # a front end without that runner: count registry evaluations instead
        from ..runtime import registry

        codes.add(registry.evaluate.__code__)
    return codes


def _backward_code() -> CodeType | None:
    try:
        from ..dynamic import engine

        return engine.run_backward.__code__
    except (ImportError, AttributeError):
        return None


def trace_dynamic_step(step: Callable[[], Any]) -> DynamicTrace:
    """Runs ``step()`` once and samples live traced bytes after every kernel call.

    Samples taken before backward starts are the *forward* phase, those inside
    ``backward()`` the *backward* phase, and those after it the *update* phase (the
    optimizer step).
    """
    runners = _kernel_runners()
    backward = _backward_code()
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

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "return" and code in runners:
            op = frame.f_locals.get("op")
            trace.ops.append(getattr(op, "name", "?"))
            trace.live_bytes.append(max(0, tracemalloc.get_traced_memory()[0] - base))
        elif code is backward and event in ("call", "return"):
            mark("backward" if event == "call" else "update")

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    trace.phases["forward"] = (0, 0)
    previous_profile = sys.getprofile()
    sys.setprofile(profile)
    try:
        trace.result = step()
    finally:
        sys.setprofile(None)
        if callable(previous_profile):
            sys.setprofile(previous_profile)
        elif hasattr(previous_profile, "enable"):  # cProfile's C-level profiler: turn it back on
            previous_profile.enable()
        if not was_tracing:
            tracemalloc.stop()
    end = len(trace.live_bytes) - 1
    start, _ = trace.phases[state["phase"]]
    trace.phases[state["phase"]] = (start, max(start, end))
    trace.phases = {k: v for k, v in trace.phases.items() if v[0] <= end}
    return trace
