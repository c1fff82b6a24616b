"""The report's recomputation section: compute counted from compiled plans (never timed),
one point per plan, the same bytes for the same code, and ``tapeflow graph --recompute``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import tapeflow.static as tf
from tapeflow.compare import recompute_report as rr
from tapeflow.compare.cli import main
from tapeflow.graphs.ir import Graph, Node
from tapeflow.runtime import dtypes
from tapeflow.static.compiler import CompileOptions

pytest.importorskip("matplotlib")
F64 = dtypes.float64


def _node(nid: int, op: str, inputs: tuple[int, ...], out: tuple[int, ...],
          **attrs: object) -> Node:
    kind = "call" if op else "placeholder"
    return Node(nid, kind, op, inputs, attrs, out, F64)


def test_work_counts_products_elements_and_chains_but_not_views() -> None:
    a, b = _node(0, "", (), (4, 3)), _node(1, "", (), (3, 5))
    product = _node(2, "matmul", (0, 1), (4, 5))
    flipped = _node(3, "matmul", (1, 0), (5, 4), transpose_a=True, transpose_b=True)
    tanh = _node(4, "tanh", (2,), (4, 5))
    view = _node(5, "reshape", (4,), (20,), shape=(20,))
    chain = _node(6, "fused", (2,), (4, 5), steps=(("tanh", (0,), ()), ("neg", (-1,), ())))
    graph = Graph((a, b, product, flipped, tanh, view, chain), (6,))
    assert rr.work(product, graph) == 2 * 4 * 5 * 3
    assert rr.work(flipped, graph) == 2 * 5 * 4 * 3  # k is b's rows when transposed
    assert rr.work(tanh, graph) == 20
    assert rr.work(view, graph) == 0 and rr.work(a, graph) == 0
    assert rr.work(chain, graph) == 2 * 20


def _chain_step(length: int = 16) -> tuple:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (8, 6), name="x")
        w = tf.Variable([[0.05 * (i - j) for j in range(6)] for i in range(6)],
                        dtype=tf.float64, name="w")
        h = x
        for _ in range(length):
            h = tf.tanh(tf.matmul(h, w))
        loss = tf.reduce_sum(h)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    trainer = SimpleNamespace(graph=graph, sess=SimpleNamespace(options=CompileOptions()))
    return trainer, [loss, train], {x: [[0.1] * 6] * 8}


def test_tradeoff_gives_one_point_per_plan_from_keep_all_to_sqrt() -> None:
    rows = rr.tradeoff(_chain_step())
    plain, sqrt = rows[0].point, rows[-1].point
    assert (plain.kind, plain.recomputed_ops, plain.extra_compute) == ("plain", 0, 0.0)
    assert sqrt.kind == "sqrt" and sqrt.recomputed_ops > 0
    assert sqrt.arena_bytes < plain.arena_bytes
    # each dropped forward value is recomputed once: at most one more forward pass
    assert 0.3 < sqrt.extra_compute <= 1.0
    for row in rows:
        assert row.lower_bound_bytes <= row.point.arena_bytes
        assert row.kernel_calls > 0
    for row in rows[1:-1]:  # budgets: between the two, each met by its own plan
        assert row.point.kind == "budget"
        assert sqrt.arena_bytes <= row.point.arena_bytes <= plain.arena_bytes
    assert len({(r.point.arena_bytes, r.point.recomputed_ops) for r in rows}) == len(rows)


def test_no_budgets_gives_two_points_and_xor_gains_nothing() -> None:
    assert [r.point.kind for r in rr.tradeoff(_chain_step(), budgets=False)] == \
        ["plain", "sqrt"]
    assert "XOR has two layers" in rr._xor_note("float64", 0)


@pytest.fixture(scope="module")
def sections(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    results = [SimpleNamespace(workload="xor"), SimpleNamespace(workload="rnn")]
    dirs = [tmp_path_factory.mktemp(name) for name in ("one", "two")]
    return tuple(rr.report_section(d, results, "float64", 0) for d in dirs)


def test_section_is_the_same_bytes_for_the_same_code(sections: tuple) -> None:
    one, two = sections
    assert one.parts == two.parts
    assert [p.read_bytes() for p in one.files] == [p.read_bytes() for p in two.files]


def test_section_explains_and_shows_the_trade(sections: tuple) -> None:
    html = "".join(sections[0].parts)
    assert [p.name for p in sections[0].files] == ["recompute_tradeoff.svg",
                                                    "recompute_plan.svg"]
    for text in ('id="recompute"', "Chen et al. 2016", "checkpoints", "bit for bit",
                 "What to look at:", "extra compute (forward passes)", "keep all",
                 "&quot;sqrt&quot;", "default options (dot_merge on)", "XOR",
                 "bench_recompute.py", "--recompute sqrt"):
        assert text in html, text
    assert "not in any figure" not in html and 'class="note"' not in html
    # every table is followed by what to look at, as everywhere in the report
    for chunk in html.split("</table></div>")[1:]:
        assert chunk.startswith('<p class="look"><b>What to look at:</b>'), chunk[:80]
    svg = sections[0].files[0].read_text()
    assert "extra compute" in svg and "sequence length T" in svg
    assert "hatched = recomputed in the backward" in sections[0].files[1].read_text()


def test_section_is_left_out_without_the_rnn(tmp_path: Path) -> None:
    section = rr.report_section(tmp_path, [SimpleNamespace(workload="xor")], "float64", 0)
    assert section.parts == [] and section.files == []


def test_report_write_includes_the_section(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tapeflow.compare import html_report
    from tapeflow.compare.harness import run_workload
    from tapeflow.compare.workloads import xor

    def fake(out_dir: Path, results: list, dtype: str, seed: int) -> object:
        section = html_report._Section(out_dir, "recompute")
        section.parts.append(f'<h2 id="recompute">STUB {dtype} {seed} {len(results)}</h2>')
        return section

    monkeypatch.setattr(rr, "report_section", fake)
    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)  # no dot
    html_report.write(tmp_path, [run_workload(xor("float64", 0), 2, "float64")], None)
    page = (tmp_path / "report.html").read_text()
    assert "STUB float64 0 1" in page and 'href="#recompute"' in page


def test_graph_command_draws_the_recomputing_plan(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "g.dot"
    assert main(["graph", "rnn", "--mode", "static", "--backward", "--memory",
                 "--recompute", "sqrt", "--cell", "rnn", "-o", str(out)]) == 0
    source = out.read_text()
    assert "recompute='sqrt'" in source and "recomputing arena" in source
    marked = [line for line in source.splitlines() if "tf-recompute" in line]
    assert marked and all("dashed" in line for line in marked)
    assert 'peripheries="2"' in source and "recomputed: a forward op" in source
    capsys.readouterr()
    for argv, message in (
            (["--mode", "dynamic", "--backward", "--recompute", "sqrt"], "--mode static"),
            (["--mode", "static", "--recompute", "sqrt"], "--backward"),
            (["--mode", "static", "--backward", "--recompute", "half"], "byte budget")):
        assert main(["graph", "rnn", *argv, "-o", str(out)]) == 2
        assert message in capsys.readouterr().err
