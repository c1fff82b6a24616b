"""The step benchmark runs from a clean checkout, and its configurations compute the same thing.

No timing is asserted (these machines are shared and noisy): the test runs a quick pass
and checks the report's structure, and that numpy, tapeflow static and tapeflow dynamic
start from the same first loss, so the times it prints compare the same work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_steps.py"
CONFIGS = ["numpy", "numpy-prealloc", "numpy-hoisted", "numpy-gemms-only", "tapeflow-static",
           "tapeflow-dynamic"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_quick_benchmark_reports_every_configuration_on_the_same_loss(
        tmp_path: Path, dtype: str) -> None:
    out = tmp_path / "steps.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--rounds", "1", "--workloads", "xor,rnn",
         "--configs", ",".join(CONFIGS), "--dtype", dtype, "--json", str(out), "--cells", "rnn"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["threads"] == 1 and report["dtype"] == dtype
    results = report["results"]
    assert results["xor"]["numpy-hoisted"] == {"skipped": "RNN only"}
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    for workload in ("xor", "rnn"):
        rows = results[workload]
        measured = [c for c in CONFIGS if "median_us" in rows[c]]
        assert "tapeflow-static" in measured and "tapeflow-dynamic" in measured
        for config in measured:
            row = rows[config]
            assert row["min_us"] <= row["median_us"] <= row["max_us"]
            assert row["repeats"] == 3 and 0 < row["cores_used"] < 1.5  # pinned to one CPU
        reference = rows["numpy-prealloc"]["first_loss"]
        for config in ("numpy", "tapeflow-static", "tapeflow-dynamic"):
            assert abs(rows[config]["first_loss"] - reference) <= tolerance * abs(reference)
    table = proc.stdout
    assert "ratio to numpy-prealloc" in table and "| rnn | numpy-gemms-only |" in table
    # the four RNN strategies per epoch, measured in one process, beside each other
    strategies = report["rnn_strategies"]["rnn"]
    assert strategies["dtype"] == dtype and strategies["epochs"] == 1
    assert list(strategies["modes"]) == ["dynamic", "static-padded", "static-bucketed",
                                         "static-while"]
    assert all(len(m["cpu"]) == 1 and m["cpu"][0] > 0 for m in strategies["modes"].values())
    assert "CPU / bucketed" in table and "| static-while |" in table
