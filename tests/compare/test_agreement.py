"""Lockstep agreement (the verdict), free-running drift (reported), the bit-exact mode and
an RNN that learns (issue 20)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tapeflow.compare import agreement_report
from tapeflow.compare.cli import main
from tapeflow.compare.harness import free_run, run_workload
from tapeflow.compare.workloads import DEFAULT_STEPS, rnn, xor


def _workload(name: str, dtype: str, **kwargs):
    if name == "xor":
        return xor(dtype, seed=0, **kwargs)
    cell = "rnn" if name == "elman" else "lstm"
    return rnn(dtype, seed=0, batches_per_length=1, cell=cell, **kwargs)


@pytest.mark.parametrize(
    "name, steps, dtype",
    [
        ("xor", 25, "float64"),
        ("xor", 25, "float32"),
        # the LSTM, the default cell: compiling its unrolled graphs takes a while
        pytest.param("rnn", 3, "float64", marks=pytest.mark.slow),
        pytest.param("rnn", 3, "float32", marks=pytest.mark.slow),
        ("elman", 3, "float64"),  # --cell rnn
        ("elman", 3, "float32"),
    ],
)
def test_every_mode_agrees_in_lockstep(name, steps, dtype):
    result = run_workload(_workload(name, dtype), steps, dtype)
    assert result.tolerance == {"float64": 1e-9, "float32": 1e-4}[dtype]
    others = {m.mode for m in result.results} - {result.reference}
    assert set(result.lockstep) == others and len(others) >= 2
    for mode, check in result.lockstep.items():
        assert len(check.loss) == steps, mode
        names = {"w1", "b1", "w2", "b2"} if name == "xor" else {
            "embedding", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out"}
        assert set(check.grads) == names and all(len(v) == steps for v in check.grads.values())
        assert check.worst <= result.tolerance, (mode, check.worst)
    assert result.agrees


def test_a_wrong_gradient_in_one_mode_fails_the_lockstep_check(monkeypatch, capsys):
    from tapeflow.compare.xor_static import XorStatic

    right = XorStatic.loss_and_grads

    def wrong_rule(self, weights, inputs, targets):  # d w2 off by 0.1 %: a broken vjp
        loss, grads = right(self, weights, inputs, targets)
        grads["w2"] = grads["w2"] * 1.001
        return loss, grads

    monkeypatch.setattr(XorStatic, "loss_and_grads", wrong_rule)
    result = run_workload(xor("float64", seed=0), 10, "float64")
    assert not result.agrees
    assert result.lockstep["static"].grads["w2"][0] == pytest.approx(1e-3, rel=1e-6)
    assert result.lockstep["static"].loss == [0.0] * 10  # the loss itself is right
    assert result.agreement["traced"] <= 1e-9
    assert main(["compare", "xor", "--steps", "5", "--no-progress"]) == 1
    assert "DISAGREEMENT" in capsys.readouterr().err


def test_free_running_drift_is_reported_with_its_horizon():
    reference = [1.0, 0.5, 0.25, 0.125]
    drifted = [1.0, 0.5, 0.25 * (1 + 1e-12), 0.125 * (1 + 1e-6)]
    run = free_run(drifted, reference, 1e-9)
    assert run.first_bit_difference == 3 and run.horizon == 4
    assert run.relative[2] == pytest.approx(1e-12, rel=1e-3)
    same = free_run(reference, reference, 1e-9)
    assert same.bit_identical and same.horizon is None


def test_the_report_explains_drift_with_the_runs_numbers():
    result = run_workload(_workload("elman", "float64"), 12, "float64")
    lines = agreement_report.summary_lines(result)
    assert lines[0].startswith("lockstep agree")
    assert any(line.startswith("bit-identical:") for line in lines)
    text = agreement_report.explanation(result)
    assert "not associative" in text and "dot merging" in text
    svg = agreement_report.drift_svg(result)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    section = agreement_report.html_section(result)
    assert "divergence horizon" in section and "<svg" in section


def test_results_json_version_2(tmp_path, capsys, monkeypatch):
    from tapeflow.compare import report

    monkeypatch.setattr(report, "write_outputs", lambda out, results, args: [])
    assert main(["compare", "xor", "--steps", "20", "--no-progress", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["tapeflow_results_version"] == 2 and payload["exact"] is False
    agreement = payload["workloads"]["xor"]["agreement"]
    assert agreement["agree"] is True and agreement["reference"] == "dynamic"
    assert len(agreement["lockstep"]["static"]["per_step"]) == 20
    assert set(agreement["lockstep"]["static"]["max_gradient_difference"]) == {
        "w1", "b1", "w2", "b2"}
    assert agreement["free_running"]["static"]["divergence_horizon"] is None
    assert "held_out_accuracy" in payload["workloads"]["xor"]["modes"]["static"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_exact_xor_is_bit_identical(dtype):
    result = run_workload(xor(dtype, seed=0, exact=True), 300, dtype)
    assert result.exact
    for mode, run in result.free.items():
        assert run.bit_identical, (mode, run.first_bit_difference)
    assert agreement_report.bit_identity(result).startswith("bit-identical: yes")


@pytest.mark.slow
@pytest.mark.parametrize("cell, steps", [("lstm", 500), ("rnn", 100)])
def test_exact_rnn_is_bit_identical_over_500_steps(cell, steps):
    workload = rnn("float64", seed=0, batches_per_length=1, exact=True, cell=cell)
    result = run_workload(workload, steps, "float64")
    assert {m.mode for m in result.results} >= {"dynamic", "static-padded", "static-bucketed"}
    for mode, run in result.free.items():
        assert run.bit_identical, (mode, run.first_bit_difference)
    assert agreement_report.bit_identity(result).startswith("bit-identical: yes")


def test_without_exact_the_rnn_parts_and_the_report_says_where():
    result = run_workload(_workload("elman", "float64"), 40, "float64")
    assert result.agrees  # lockstep holds ...
    parted = [run.first_bit_difference for run in result.free.values()]
    assert any(step is not None for step in parted)  # ... while the free runs part in bits
    assert "first differ" in agreement_report.bit_identity(result)


@pytest.mark.slow
def test_default_rnn_run_reaches_90_percent_held_out():
    workload = rnn("float64", seed=0)  # the default settings: the LSTM, SGD, clipping
    assert workload.info["held_out_sentences"] >= 500
    result = run_workload(workload, DEFAULT_STEPS["rnn"], "float64")
    assert result.agrees
    for mode in result.results:
        assert mode.held_out_accuracy is not None and mode.held_out_accuracy >= 0.9, mode.mode
    assert np.isfinite(result.results[0].losses[-1])


def test_held_out_sentences_are_never_trained_on():
    workload = rnn("float64", seed=0, batches_per_length=1)
    seen = {row.tobytes() for b in workload.batches for row in b.tokens}
    held = [row.tobytes() for b in workload.held_out for row in b.tokens]
    assert held and not seen.intersection(held)
