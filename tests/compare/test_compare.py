"""The side-by-side harness and the ``tapeflow`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from tapeflow.compare import data
from tapeflow.compare.cli import main
from tapeflow.compare.harness import max_relative_difference, run_workload
from tapeflow.compare.workloads import rnn, xor


def test_xor_modes_agree_in_float64_and_learn():
    result = run_workload(xor("float64", seed=0), steps=300, dtype="float64")
    assert result.agrees and result.tolerance == 1e-9
    assert max(result.agreement.values()) <= 1e-9
    for mode in result.results:
        assert mode.accuracy == 1.0, mode.mode
        assert mode.losses[-1] < 0.1 * mode.losses[0]


def test_xor_modes_agree_in_float32():
    result = run_workload(xor("float32", seed=1), steps=120, dtype="float32")
    assert result.agrees and result.tolerance == 1e-4


def test_rnn_modes_agree_over_100_steps_from_the_same_weights():
    workload = rnn("float64", seed=0, batches_per_length=1, cell="rnn")
    result = run_workload(workload, steps=100, dtype="float64")
    assert {r.mode for r in result.results} >= {"dynamic", "static-padded", "static-bucketed"}
    assert result.agrees, result.agreement
    by_mode = {r.mode: r.summary() for r in result.results}
    assert (
        by_mode["static-padded"]["padding_waste"] > by_mode["static-bucketed"]["padding_waste"] > 0
    )
    assert by_mode["dynamic"]["padding_waste"] == 0
    assert by_mode["static-padded"]["compilations"] >= 1
    assert (
        by_mode["static-padded"]["arena_bytes"]
        <= 1.05 * by_mode["static-padded"]["lower_bound_bytes"]
    )
    assert by_mode["dynamic"]["tape_nodes_max"] > by_mode["dynamic"]["tape_nodes_min"]


def test_agreement_measure_catches_a_difference():
    assert max_relative_difference([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert max_relative_difference([1.0, 2.0 + 1e-6], [1.0, 2.0]) == pytest.approx(5e-7)
    assert max_relative_difference([1.0], [1.0, 2.0]) == float("inf")


def test_batches_share_one_length_and_cover_every_length():
    task = data.SentimentTask()
    batches = task.batches(batch_size=8, batches_per_length=1, seed=3)
    assert sorted(b.max_length for b in batches) == list(range(task.min_len, task.max_len + 1))
    for b in batches:
        assert (b.lengths == b.max_length).all() and (b.tokens > 0).all()
        pos = np.isin(b.tokens, task.positive_ids).sum(axis=1)
        neg = np.isin(b.tokens, task.negative_ids).sum(axis=1)
        assert ((pos > neg) == (b.labels == 1)).all()
    padded = batches[0].padded_to(40)
    assert (
        padded.tokens.shape[1] == 40 and padded.mask(np.float64).sum() == batches[0].lengths.sum()
    )


def test_compare_writes_results_json(tmp_path, capsys):
    status = main(["compare", "xor", "--steps", "30", "--no-progress", "--out", str(tmp_path)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "lockstep agree" in printed and "median step" in printed
    results = json.loads((tmp_path / "results.json").read_text())
    xor_result = results["workloads"]["xor"]
    assert set(xor_result["modes"]) >= {"static", "dynamic"}
    for figures in xor_result["modes"].values():
        for key in (
            "build_seconds",
            "median_step_seconds",
            "steps_per_second",
            "peak_first_step_bytes",
            "peak_step_bytes",
            "accuracy",
            "final_loss",
        ):
            assert key in figures
    assert xor_result["agreement"]["agree"] is True
    assert len(xor_result["losses"]["static"]) == 30


@pytest.mark.parametrize(
    "argv, words",
    [
        (["compare", "mnist"], "invalid choice: 'mnist'"),
        (["compare", "xor", "--steps", "0"], "expected a positive integer"),
        (["compare", "xor", "--dtype", "int8"], "invalid choice: 'int8'"),
        (["compare", "rnn", "--cell", "gru"], "invalid choice: 'gru'"),
        (["train", "xor", "--mode", "eager"], "has no mode 'eager'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_command_lines_are_one_clear_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


@pytest.mark.skipif(
    __import__("tapeflow.runtime", fromlist=["x"]).gpu_available(), reason="checks the no-GPU error"
)
def test_gpu_without_cuda_is_one_clear_line(capsys):
    assert main(["compare", "xor", "--device", "gpu", "--no-progress"]) == 2
    assert "needs" in capsys.readouterr().err


def test_train_one_mode(capsys):
    assert main(["train", "xor", "--mode", "dynamic", "--steps", "20", "--no-progress"]) == 0
    assert "dynamic" in capsys.readouterr().out


def test_python_dash_m_is_the_same_command():
    proc = subprocess.run(
        [sys.executable, "-m", "tapeflow.compare", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "compare" in proc.stdout and "graph" in proc.stdout
