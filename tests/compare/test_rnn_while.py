"""The fourth RNN strategy, static-while: one graph with a loop, compiled once, agreeing
with dynamic mode in lockstep."""

from __future__ import annotations

import pytest
from tapeflow.compare.harness import run_workload
from tapeflow.compare.workloads import rnn


@pytest.mark.parametrize("cell, dtype", [("rnn", "float64"), ("rnn", "float32"),
                                         ("lstm", "float64")])
def test_static_while_compiles_once_and_agrees_with_dynamic_in_lockstep(cell, dtype):
    workload = rnn(dtype, seed=0, batches_per_length=1, cell=cell)
    workload.modes = [m for m in workload.modes if m.name in ("dynamic", "static-while")]
    result = run_workload(workload, 8, dtype)
    assert set(result.lockstep) == {"static-while"}
    check = result.lockstep["static-while"]
    assert len(check.loss) == 8 and check.worst <= result.tolerance, check.worst
    assert result.agrees
    summary = {r.mode: r.summary() for r in result.results}["static-while"]
    assert len({b.max_length for b in workload.batches[:8]}) > 1
    # the variables' initializer and ONE training program for every batch length (as
    # static-padded, whose graph is unrolled to the longest length)
    assert summary["compilations"] == 2
    assert summary["padding_waste"] == 0  # the loop stops at each batch's longest sentence


def test_static_while_is_listed_beside_the_other_three():
    names = [m.name for m in rnn("float64", seed=0, batches_per_length=1).modes]
    assert {"dynamic", "static-padded", "static-bucketed", "static-while"} <= set(names)
