"""The report's GEMM section: which library runs each matrix product of RNN-large's plan."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from tapeflow.compare import blas_report
from tapeflow.runtime import blas
from tapeflow.static.compiler.autotune import choices


@pytest.fixture(scope="module")
def program():
    return blas_report.rnn_large_program()


def _cells(text: str) -> list[list[str]]:
    table = text[text.index("<tbody>"):text.index("</tbody>")]
    return [[html.unescape(re.sub("<[^>]+>", "", c)).replace("\xa0", " ")
             for c in re.findall("<td>(.*?)</td>", row)]
            for row in re.findall("<tr>(.*?)</tr>", table)]


def test_every_matmul_of_the_plan_is_one_call_of_one_row(program):
    rows = choices(program.graph, program.plan.providers)
    matmuls = [n.id for n in program.graph.nodes  # (an addmm's product is one too)
               if n.kind == "call" and n.op in ("matmul", "addmm")]
    assert sorted(i for r in rows for i in r.nodes) == sorted(matmuls)
    cells = _cells(blas_report.table_html(program.graph, rows))
    assert {c[0]: int(c[2]) for c in cells}["forward: x_t @ w_ih, 7 steps in one product"] == 7
    assert sum(int(c[2]) for c in cells) == len(matmuls)
    # the kept library is the plan's, per shape and library (one shape may show twice: a
    # product summed into its addend by MKL, and the same shape alone in numpy)
    assert {(c[1], c[-2]) for c in cells} == {(f"{r.m} × {r.k} × {r.n}", r.provider)
                                               for r in rows}
    words = {c[0] for c in cells}
    assert {"forward: h_t @ w_hh", "backward: gradient @ w_hh^T"} <= words
    # the recurrence and its gradient: 49 each (h0 = 0: the first step has no product)
    assert {c[0]: int(c[2]) for c in cells}["forward: h_t @ w_hh"] == 49


def test_with_a_second_library_each_row_shows_both_timings(program):
    if blas.MKL not in blas.available():
        pytest.skip("needs the mkl wheel (pip install tapeflow[mkl])")
    rows = choices(program.graph, program.plan.providers)
    assert all(set(r.seconds) == {"numpy", "mkl"} for r in rows)
    for r in rows:  # a product summed into its addend is MKL's (numpy's cannot sum into it);
        # one alone is the faster library's, by the timings shown
        summed = any(program.graph[i].op == "addmm" for i in r.nodes)
        assert r.provider == (blas.MKL if summed else blas.pick(r.seconds)), r


def test_the_rows_follow_the_timings_when_the_libraries_are_level(monkeypatch):
    if blas.MKL not in blas.available():
        pytest.skip("needs the mkl wheel (pip install tapeflow[mkl])")
    level = {"numpy": 1e-4, "mkl": 1e-4}
    monkeypatch.setattr(blas, "measure", lambda a, b, out, *rest: (
        dict(level) if blas._handled(a, b, out) else {}))
    monkeypatch.setattr(blas, "_CHOSEN", {})
    monkeypatch.setattr(blas, "_TIMES", {})
    monkeypatch.setattr(blas, "_KEYS", {})
    program = blas_report.rnn_large_program()
    rows = choices(program.graph, program.plan.providers)
    for r in rows:
        summed = any(program.graph[i].op == "addmm" for i in r.nodes)
        assert r.provider == (blas.MKL if summed else blas.NUMPY), r
    cells = _cells(blas_report.table_html(program.graph, rows))
    assert {(c[1], c[-2]) for c in cells} == {(f"{r.m} × {r.k} × {r.n}", r.provider)
                                               for r in rows}


def test_the_section_is_the_same_bytes_when_written_again(tmp_path: Path):
    first, again = (blas_report.report_section(tmp_path) for _ in range(2))
    page = "".join(first.parts)
    assert page == "".join(again.parts)
    assert 'id="gemm"' in page and "depends on the shape" in page
    assert page.split("</table></div>")[1].startswith('<p class="look">')


def test_without_mkl_the_section_says_how_to_add_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(blas, "available", lambda: (blas.NUMPY,))
    monkeypatch.setattr(blas, "_CHOSEN", {})
    monkeypatch.setattr(blas, "_TIMES", {})
    page = "".join(blas_report.report_section(tmp_path).parts)
    assert "pip install tapeflow[mkl]" in page
    assert {c[-2] for c in _cells(page)} == {"numpy"}
