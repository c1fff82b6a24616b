"""The HTML report of ``tapeflow compare --out DIR``: content, self-containment, and that a
headless browser renders it (runs whenever Debian's ``chromium`` is installed)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from argparse import Namespace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tapeflow.compare import html_report as report
from tapeflow.compare.harness import ModeResult, WorkloadResult, run_workload
from tapeflow.compare.workloads import xor
from tapeflow.visualize import dot_available

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


class _Collector(HTMLParser):
    """Tags and the attributes that could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href") and value and "://" in value:
                self.loads.append(f"<{tag} {name}={value}>")
        if tag in ("script", "link", "iframe", "img"):
            self.loads.append(f"<{tag}>")


def rnn_result() -> WorkloadResult:
    """An RNN result as the harness would give it (running the harness on the RNN takes
    longer than this whole file should; XOR below is a real run)."""
    def mode(name: str, style: str, scale: float) -> ModeResult:
        losses = [0.7 - 0.01 * i for i in range(3)]
        return ModeResult(name, style, losses, 0.05 * scale, [0.002 * scale] * 2, 900_000,
                          400_000, 0.5, {"padding_waste": 0.4} if style == "static" else {})

    modes = [mode("dynamic", "dynamic", 1.0), mode("static-padded", "static", 1.4),
             mode("static-bucketed", "static", 1.1)]
    return WorkloadResult("rnn", "float64", 3, modes,
                          {"static-padded": 0.0, "static-bucketed": 1e-16}, 1e-9,
                          {"network": "Elman RNN"})


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    results = [run_workload(xor("float64", 0), 4, "float64"), rnn_result()]
    return out, report.write(out, results, Namespace(dtype="float64", seed=0, device="cpu"))


@needs_dot
def test_report_is_one_self_contained_page(written: tuple[Path, list[Path]]) -> None:
    out, paths = written
    page = out / "report.html"
    assert paths[-1] == page and all(p.exists() for p in paths)
    names = {p.name for p in paths}
    for name in ("xor_losses.svg", "xor_memory.svg", "xor_static_graph.svg",
                 "xor_dynamic_tape.svg", "rnn_static_graph.svg", "rnn_padding.svg"):
        assert name in names, name
    html = page.read_text()
    parser = _Collector()
    parser.feed(html)
    assert parser.loads == []  # nothing is fetched from anywhere
    assert parser.tags["svg"] == 9 and parser.tags["table"] == 2
    for text in ("class XorStatic", "class XorDynamic", "class RnnStatic", "class RnnDynamic",
                 "static-padded", "static-bucketed", "losses agree", "median step",
                 "Why static graphs pad", "AccumulateGrad", "backward (gradients)",
                 "tracemalloc"):
        assert text in html, text
    assert "<?xml" not in html  # the SVGs are inlined as elements, not documents


def test_report_without_dot_writes_dot_files_and_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)
    results = [run_workload(xor("float64", 0), 3, "float64")]
    paths = report.write(tmp_path, results, None)
    names = {p.name for p in paths}
    assert {"xor_static_graph.dot", "xor_dynamic_tape.dot", "xor_losses.svg",
            "report.html"} <= names
    html = (tmp_path / "report.html").read_text()
    assert "apt-get install graphviz" in html and html.count("<svg") >= 2


@needs_dot
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(written: tuple[Path, list[Path]]) -> None:
    import matplotlib.image
    import numpy as np

    out, _ = written
    shot = out / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,900", (out / "report.html").as_uri()],
            capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 800 and pixels.shape[1] >= 1100
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(3), axis=0)
    assert len(colours) > 50  # text, table, plots: far from one blank colour
    # the table's dark header band is on screen: some clearly dark-blue pixels
    blue = (pixels[..., 2] > 0.45) & (pixels[..., 0] < 0.25)
    assert blue.sum() > 500
