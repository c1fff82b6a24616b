"""The HTML report of ``tapeflow compare --out DIR``: content, explanations, glossary,
self-containment, determinism; and in headless Chromium (whenever Debian's ``chromium``
is installed): legible figures at 1280 px, no overflow at 1024 px, no console error, and
the tape players driven by button and keyboard."""

from __future__ import annotations

import json
import re
from argparse import Namespace
from html.parser import HTMLParser
from pathlib import Path

import browser
import pytest
from tapeflow.compare import html_report as report
from tapeflow.compare.harness import ModeResult, WorkloadResult, run_workload
from tapeflow.compare.report import GLOSSARY, ROWS
from tapeflow.compare.workloads import xor
from tapeflow.visualize import dot_available

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
needs_browser = pytest.mark.skipif(not browser.available(),
                                   reason="Debian's chromium is not installed")
ARGS = Namespace(dtype="float64", seed=0, device="cpu")


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
            if tag == "script" and name == "src":
                self.loads.append(f"<script src={value}>")
        if tag in ("link", "iframe", "img"):
            self.loads.append(f"<{tag}>")


def rnn_result() -> WorkloadResult:
    """An RNN result as the harness would give it (running the harness on the RNN takes
    longer than this whole file should; XOR below is a real run)."""
    def mode(name: str, style: str, scale: float) -> ModeResult:
        losses = [0.7 - 0.01 * i for i in range(3)]
        return ModeResult(name, style, losses, 0.05 * scale, [0.002 / scale] * 2, 900_000,
                          400_000, 0.5, {"padding_waste": 0.4} if style == "static" else {})

    modes = [mode("dynamic", "dynamic", 1.0), mode("static-padded", "static", 1.4),
             mode("static-bucketed", "static", 1.1)]
    return WorkloadResult("rnn", "float64", 3, modes,
                          {"static-padded": 0.0, "static-bucketed": 1e-16}, 1e-9,
                          {"network": "Elman RNN"})


@pytest.fixture(scope="module")
def results() -> list[WorkloadResult]:
    return [run_workload(xor("float64", 0), 4, "float64"), rnn_result()]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory,
            results: list[WorkloadResult]) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    return out, report.write(out, results, ARGS)


@needs_dot
def test_report_is_one_self_contained_page(written: tuple[Path, list[Path]]) -> None:
    out, paths = written
    page = out / "report.html"
    assert paths[-1] == page and all(p.exists() for p in paths)
    names = {p.name for p in paths}
    for name in ("xor_losses.svg", "xor_cost.svg", "xor_memory.svg", "xor_static_graph.svg",
                 "xor_static_forward.svg", "xor_dynamic_forward.svg", "xor_dynamic_tape.svg",
                 "rnn_static_graph.svg", "rnn_padding.svg", "player_dynamic.html",
                 "player_static.html"):
        assert name in names, name
    html = page.read_text()
    parser = _Collector()
    parser.feed(html)
    assert parser.loads == []  # nothing is fetched from anywhere
    assert parser.tags["table"] >= 2 and parser.tags["svg"] >= 15
    for text in ("xor_static.py", "xor_dynamic.py", "class RnnStatic", "class RnnDynamic",
                 "static-padded", "static-bucketed", "lockstep agree", "median step",
                 "Why static graphs pad", "AccumulateGrad", "backward (gradients)",
                 "break-even at step", "Why static is faster here", "Where dynamic wins",
                 "Kernels per step", "Allocations per step", "Dispatches per step",
                 "&lt;Tensor &#x27;mean_squared_error/value:0&#x27;", "tensor(",
                 "player_dynamic.html", "Two ways to run one model"):
        assert text in html, text
    assert "<?xml" not in html  # the SVGs are inlined as elements, not documents


@needs_dot
def test_every_figure_says_what_to_look_at_and_every_term_is_explained(
        written: tuple[Path, list[Path]]) -> None:
    html = (written[0] / "report.html").read_text()
    chunks = html.split('<div class="fig">')[1:]
    # every frame is a figure, or the click-to-expand view under one
    assert len(chunks) == html.count('<div class="frame">') - html.count("<details>") >= 15
    for chunk in chunks:  # a figure's own part ends where the next heading starts
        own = re.split(r"<h[23][ >]", chunk[4:])[0]
        assert "What to look at:" in own, own[:200]
    for chunk in html.split("</table></div>")[1:]:  # and so does every table
        assert chunk.startswith('<p class="look"><b>What to look at:</b>'), chunk[:100]
    body, glossary = html.split('id="glossary"', 1)
    assert {label for label, _ in ROWS} <= {term for term, _, _ in GLOSSARY}  # every row
    for term, unit, _ in GLOSSARY:
        assert term in glossary and f"[{unit}]" in glossary, term
    for term in ("arena (planned)", "arena lower bound", "no-reuse bytes", "compilations",
                 "tape nodes per step", "break-even", "padding waste"):
        assert term in body, term  # every one is used, and explained below
    assert "0.10000000149011612" not in html and " KB" not in html


@needs_dot
def test_same_results_give_the_same_files(tmp_path: Path,
                                          written: tuple[Path, list[Path]],
                                          results: list[WorkloadResult]) -> None:
    # one call site: graphs built here carry the line that built them in their tooltips
    paths, again = (report.write(d, results[:1], ARGS) for d in (tmp_path, tmp_path / "again"))
    # the memory chart's dynamic curve is measured while the report is written, in array
    # bytes (numpy's own tracemalloc domain), which are the same on every run
    for first, second in zip(paths, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_report_without_dot_writes_dot_files_and_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)
    results = [run_workload(xor("float64", 0), 3, "float64")]
    paths = report.write(tmp_path, results, None)
    names = {p.name for p in paths}
    assert {"xor_static_graph.dot", "xor_dynamic_tape.dot", "xor_losses.svg",
            "report.html"} <= names
    html = (tmp_path / "report.html").read_text()
    assert "apt-get install graphviz" in html and html.count("<svg") >= 3


@needs_browser
def test_the_probe_sees_small_text_overflow_and_errors(tmp_path: Path) -> None:
    """The browser checks below can fail: a page with each fault is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head></head><body><div class="frame"><svg '
                    'width="100" height="20"><text x="0" y="10" font-size="5">tiny</text>'
                    '</svg></div><div style="width:3000px">wide</div><script>'
                    'console.error("boom")</script></body></html>')
    found = browser.probe(page, 1024)
    assert found["small"] and found["small"][0][1] == "tiny"
    assert found["overflow"] > 1000 and "boom" in found["errors"]


@needs_dot
@needs_browser
def test_report_in_chromium_is_legible_and_fits(written: tuple[Path, list[Path]]) -> None:
    page = written[0] / "report.html"
    wide = browser.probe(page, 1280)
    assert wide["errors"] == []
    assert wide["texts"] > 500 and wide["small"] == [], wide["small"][:10]  # >= 8 px
    # the click-to-expand views open at a readable zoom too
    opened = browser.probe(page, 1280, extra="<script>document.querySelectorAll('details')"
                                            ".forEach(function (d) { d.open = true; });"
                                            "</script>")
    assert opened["texts"] >= wide["texts"] and opened["small"] == [], opened["small"][:10]
    assert opened["errors"] == []
    narrow = browser.probe(page, 1024)
    assert narrow["width"] == 1024 and narrow["overflow"] <= 0
    assert narrow["errors"] == []


DRIVE = """<script>window.__probe = function () {
  var seen = [], next = document.getElementById('next');
  for (var i = 0; i < window.__player.frames; i++) {
    if (i % 2) { next.click(); }
    else { document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight'})); }
    var row = document.querySelector('tr.current');
    seen.push([window.__player.frame, window.__player.row, row ? row.id : null,
               row ? row.querySelector('td.value').textContent : null,
               row ? row.querySelector('td.grad').textContent : null]);
  }
  document.getElementById('prev').click();
  seen.push([window.__player.frame, window.__player.row]);
  return seen;
};</script>"""


@needs_dot
@needs_browser
@pytest.mark.parametrize("style", ["dynamic", "static"])
def test_players_step_forward_and_back(style: str, written: tuple[Path, list[Path]]) -> None:
    page = written[0] / f"player_{style}.html"
    text = page.read_text()
    data = json.loads(re.search(r'id="player-data">(.*?)</script>', text, re.S).group(1)
                      .replace("<\\/", "</"))
    found = browser.probe(page, 1024, extra=DRIVE)
    assert found["errors"] == [] and found["overflow"] <= 0
    seen = found["page"]
    frames = data["frames"]
    assert len(seen) == len(frames) + 1
    for k, (frame, row, row_id, value, grad) in enumerate(seen[:-1]):
        expected = frames[k]
        assert (frame, row, row_id) == (k, expected["row"], f"row-{expected['row']}")
        shown = grad if expected["column"] == "grad" else value
        assert shown == expected["value"]
    assert seen[-1] == [len(frames) - 2, frames[-2]["row"]]  # prev steps back
    if style == "dynamic":
        rows = [f["row"] for f in frames]
        forward = rows[:rows.index("loss") + 1]
        backward = [f["row"] for f in frames if f["column"] == "grad"]
        assert forward[-8:] == ["z1", "a1", "h", "z2", "out", "diff", "sq", "loss"]
        assert backward[:3] == ["loss", "sq", "diff"]  # the tape, walked in reverse
        assert {"w1", "b1", "w2", "b2"} <= set(backward)
