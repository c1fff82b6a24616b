"""``tapeflow figure NAME`` and ``tapeflow graph`` reach every figure; --help says what each
option does in each mode; drawings are deterministic; the storage picture; the examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tapeflow.dynamic as torch
from tapeflow.compare.cli import build_parser, main
from tapeflow.compare.figures import FIGURES
from tapeflow.visualize import dot_available, tape
from tapeflow.visualize.storage import elements_read, storage_example, storage_figure

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


def help_of(*command: str) -> str:
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    return " ".join(sub[command[0]].format_help().split())


def test_graph_help_describes_each_option_in_both_modes() -> None:
    text = help_of("graph")
    assert "static: fill each node with the colour of its arena offset" in text
    assert "dynamic (with --backward): draw the tensors each tape node saved" in text
    assert "dynamic: the autograd tape after backward" in text
    assert "--full" in text and "cell box marked x T" in text
    assert "static-while (rnn): the graph with a loop, drawn as a box holding its body" in text
    assert "static-while: the forward loop and the reverse, gradient loop" in text
    text = help_of("figure")
    for name in FIGURES:
        assert name in text, name


@needs_dot
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_cli_writes_every_figure(name: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    workload = "rnn" if name in ("padding", "static-while") else "xor"
    out = tmp_path / (f"{name}.html" if name == "player" else f"{name}.svg")
    assert main(["figure", name, "--workload", workload, "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert ("__player" in text) if name == "player" else ("<svg" in text)


@pytest.mark.parametrize("name", ["padding", "static-while"])
def test_cli_figure_rejects_a_figure_of_the_wrong_workload(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--workload rnn"):
        main(["figure", name, "--workload", "xor", "-o", str(tmp_path / "p.svg")])


def test_cli_graph_full_draws_every_op(tmp_path: Path) -> None:
    summary, full = tmp_path / "s.dot", tmp_path / "f.dot"
    assert main(["graph", "rnn", "--mode", "static", "--backward", "-o", str(summary)]) == 0
    assert main(["graph", "rnn", "--mode", "static", "--backward", "--full",
                 "-o", str(full)]) == 0
    drawn = [len(re.findall(r'^\s+"n\d+" \[', p.read_text(), re.M)) for p in (summary, full)]
    assert drawn[0] <= 60 < 1000 < drawn[1]
    assert "loop cell \u00d740" in summary.read_text()


def test_tape_drawings_are_the_same_bytes_every_time() -> None:
    def draw() -> str:
        w = torch.ones(3, requires_grad=True)
        return tape(((w * 2).sigmoid() * w).sum(), {"w": w}, show_saved=True).source

    first, second = draw(), draw()
    assert first == second and "fn0" in first
    assert not re.search(r"fn\d{6,}", first)  # no object ids (memory addresses) in names


def test_storage_picture_reads_the_tensors_own_strides() -> None:
    assert elements_read((3,), (4,), 1) == [1, 5, 9]  # a column of a 3 x 4 tensor
    assert elements_read((2, 2), (1, 2), 0) == [0, 2, 1, 3]  # a transpose
    src = storage_example().source
    for text in ("stride (4, 1)", "stride (1, 4)", "offset 4", "not contiguous",
                 "Storage: 12 x float32", "x[:, 1] reads"):
        assert text in src, text
    x, y = torch.ones(2), torch.ones(2)
    with pytest.raises(ValueError, match="do not share one storage"):
        storage_figure({"x": x, "y": y})
