"""The bare-tape benchmark runs, and its tape does the same arithmetic as tapeflow's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bare_tape_benchmark_runs_and_agrees_with_tapeflow() -> None:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_bare_tape.py"),
                           "--repeats", "2", "--ops", "40"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    gaps = re.findall(r"(\w+): bare tape vs tapeflow parameters after one step differ by at "
                      r"most (\S+)", proc.stdout)
    assert [name for name, _ in gaps] == ["xor", "rnn"]
    assert all(float(gap) < 1e-6 for _, gap in gaps), gaps
    assert "| chain, per op |" in proc.stdout
