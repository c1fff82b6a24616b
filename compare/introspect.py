"""Per-mode figures the harness reports beside the timings: graph sizes, compilations,
memory plans (static), and nodes recorded per step (dynamic)."""

from __future__ import annotations

from typing import Any

from .workloads import Mode, Workload


def stats(mode: Mode, trainer: Any, workload: Workload) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if mode.graph_length is not None:
        from .data import padding_waste

        figures["padding_waste"] = padding_waste(workload.batches, mode.graph_length)
    return figures
