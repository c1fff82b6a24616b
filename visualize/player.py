"""A step player: one self-contained HTML page that plays a recorded sequence, row by row.

The page shows a table of rows (the records of a tape, or the steps of a compiled
schedule) and plays a list of frames over it: each frame may reveal a row, write a value
into it, and highlights it, with a caption. Next, previous and play work by button and by
keyboard (right and left arrows, space); everything is inline, nothing is fetched, and the
same input gives the same bytes. ``window.__player`` exposes the current frame, the
highlighted row and its shown value, so a test can drive the page and read it back.

Example:
    >>> rows = [Row("a", "x @ w", "matmul")]
    >>> html = player_page("demo", "<p>intro</p>", rows, [Frame("a", "[[1.0]]", "runs")])
    >>> "__player" in html
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .html_page import esc, page

PLAYER_CSS = """
table.tape { border-collapse: collapse; font-size: 13px; width: 100%; table-layout: fixed; }
table.tape td, table.tape th { border: 1px solid #ddd; padding: 4px 8px; vertical-align: top;
  overflow-wrap: anywhere; }
table.tape th { background: #1f4e99; color: #fff; text-align: left; }
table.tape tr.hidden td { color: transparent; background: #fafafa; }
table.tape tr.hidden td.value { visibility: hidden; }
table.tape tr.current td { background: #fff4e6; outline: 2px solid #d35400; }
table.tape td.value { font-family: monospace; white-space: pre-wrap; }
.controls { position: sticky; top: 0; background: #fff; padding: 8px 0; z-index: 3; }
.controls button { font-size: 14px; padding: 4px 12px; }
#caption { font-size: 15px; margin: 6px 0; min-height: 2.6em; }
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('player-data').textContent);
  var rows = {}, k = -1, timer = null;
  data.rows.forEach(function (r) { rows[r.key] = document.getElementById('row-' + r.key); });
  function show(target) {
    k = Math.max(-1, Math.min(data.frames.length - 1, target));
    data.rows.forEach(function (r) {
      var tr = rows[r.key];
      tr.className = data.start_hidden ? 'hidden' : '';
      tr.querySelector('.value').textContent = '';
      tr.querySelector('.grad').textContent = '';
    });
    for (var i = 0; i <= k; i++) {
      var f = data.frames[i], tr = rows[f.row];
      tr.className = '';
      var cell = tr.querySelector(f.column === 'grad' ? '.grad' : '.value');
      if (f.value) { cell.textContent = f.value; }
      if (f.note) { tr.querySelector('.grad').textContent = f.note; }
    }
    var current = k >= 0 ? data.frames[k] : null;
    if (current) { rows[current.row].className = 'current'; }
    document.getElementById('caption').textContent = current ? current.caption : data.hint;
    document.getElementById('where').textContent = (k + 1) + ' / ' + data.frames.length;
    window.__player = {frame: k, row: current ? current.row : null,
                       value: current ? current.value : null, frames: data.frames.length};
  }
  function play() {
    if (timer) { clearInterval(timer); timer = null; return; }
    timer = setInterval(function () {
      if (k >= data.frames.length - 1) { clearInterval(timer); timer = null; return; }
      show(k + 1);
    }, 700);
  }
  document.getElementById('next').onclick = function () { show(k + 1); };
  document.getElementById('prev').onclick = function () { show(k - 1); };
  document.getElementById('play').onclick = play;
  document.getElementById('reset').onclick = function () { show(-1); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') { show(k + 1); }
    else if (e.key === 'ArrowLeft') { show(k - 1); }
    else if (e.key === ' ') { e.preventDefault(); play(); }
  });
  show(-1);
})();
"""


@dataclass(frozen=True)
class Row:
    """One line of the table: a key, what it computes, and the op or kind."""

    key: str
    text: str
    op: str


@dataclass(frozen=True)
class Frame:
    """One step of the play: highlight ``row`` (revealing it), write ``value`` into its
    value column (``column="grad"``: its gradient column) and ``note`` into the last
    column, say ``caption``."""

    row: str
    value: str
    caption: str
    column: str = "value"
    note: str = ""


def player_page(title: str, intro: str, rows: Sequence[Row], frames: Sequence[Frame],
                columns: tuple[str, str, str, str] = ("#", "computes", "value", "gradient"),
                start_hidden: bool = True) -> str:
    """The whole page (``intro`` is HTML shown above the player)."""
    data = {"rows": [asdict(r) for r in rows], "frames": [asdict(f) for f in frames],
            "start_hidden": start_hidden,
            "hint": "press next (or the right arrow key) to run the first step"}
    body_rows = "".join(
        f'<tr id="row-{esc(r.key)}"><td>{k + 1}</td><td><code>{esc(r.text)}</code><br>'
        f'<span class="meta">{esc(r.op)}</span></td><td class="value"></td>'
        f'<td class="value grad"></td></tr>' for k, r in enumerate(rows))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    # </ inside the JSON would end the script element early
    payload = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    body = (f"<style>{PLAYER_CSS}</style><h1>{esc(title)}</h1>{intro}"
            f'<div class="controls"><button id="reset">reset</button> '
            f'<button id="prev">&#9664; prev</button> <button id="play">play / pause'
            f'</button> <button id="next">next &#9654;</button> <span id="where"></span>'
            f'<p id="caption"></p></div><table class="tape"><colgroup><col style="width:4%">'
            f'<col style="width:30%"><col style="width:33%"><col style="width:33%"></colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table>"
            f'<script type="application/json" id="player-data">{payload}</script>')
    return page(title, body, SCRIPT)
