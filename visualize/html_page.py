"""One self-contained HTML page of figures: styles, a zoomable figure frame, notes.

Every figure sits in a frame that opens at a readable zoom: as wide as the page allows,
but never so small that its smallest text renders under :data:`MIN_TEXT_PX` pixels; what
does not fit scrolls inside the frame (drag to pan; buttons or Ctrl + wheel to zoom).
Nothing is fetched: styles and script are inline. Output is deterministic (no dates, no
random ids), so the same input gives the same bytes.

Example:
    >>> page("t", "<p>hi</p>").startswith("<!DOCTYPE html>")
    True
"""

from __future__ import annotations

import html
import re

MIN_TEXT_PX = 8.0
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)

CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0 auto; padding: 16px 24px;
  max-width: 1180px; color: #222; background: #fff; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { margin-top: 40px; border-bottom: 2px solid #1f4e99; padding-bottom: 4px; }
h3 { margin-top: 28px; font-size: 17px; }
.meta { color: #555; font-size: 13px; }
table.cmp { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
table.cmp th, table.cmp td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
table.cmp th:first-child, table.cmp td:first-child { text-align: left; }
table.cmp thead th { background: #1f4e99; color: #fff; }
table.cmp tbody tr:nth-child(even) { background: #f3f6fb; }
.tablewrap { overflow-x: auto; max-width: 100%; }
.verdict { font-weight: bold; } .agree { color: #2e7d32; } .disagree { color: #b03a2e; }
.frame { position: relative; border: 1px solid #ddd; border-radius: 6px; margin: 10px 0;
  background: #fff; }
.frame .view { overflow: auto; max-height: 760px; cursor: grab; }
.frame .view svg { display: block; }
.frame .tools { position: sticky; top: 0; z-index: 2; display: flex; gap: 4px;
  justify-content: flex-end; padding: 4px; background: rgba(255,255,255,0.9);
  border-bottom: 1px solid #eee; font-size: 12px; color: #555; align-items: center; }
.frame .tools button { font-size: 12px; padding: 1px 8px; }
.look { background: #eef4ff; border-left: 4px solid #1f4e99; padding: 6px 10px;
  font-size: 14px; margin: 6px 0 14px 0; }
.caption { font-size: 13px; color: #555; margin: 4px 0 0 0; }
.code { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
.code pre { background: #f7f7f7; border: 1px solid #ddd; padding: 8px; font-size: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.note { background: #fff8e1; border: 1px solid #e0c060; padding: 8px; font-size: 13px; }
.opening { background: #f7faff; border: 1px solid #c9d8f0; border-radius: 6px;
  padding: 4px 16px; }
.two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
dl.glossary dt { font-weight: bold; margin-top: 6px; }
dl.glossary dd { margin-left: 18px; }
ul.facts li { margin: 3px 0; }
code { overflow-wrap: anywhere; }
details > summary { cursor: pointer; font-weight: bold; color: #1f4e99; margin: 6px 0; }
"""

# Zoom and pan for every .frame: the initial zoom fits the width unless that would shrink
# the smallest text below MIN_TEXT_PX; then the frame scrolls instead.
SCRIPT = """
(function () {
  var MIN = %MIN%;
  function smallest(svg) {
    var least = Infinity;
    svg.querySelectorAll('text').forEach(function (t) {
      var size = parseFloat(getComputedStyle(t).fontSize);
      var ctm = t.getScreenCTM();
      if (ctm && size) {
        least = Math.min(least, size * Math.sqrt(Math.abs(ctm.a * ctm.d - ctm.b * ctm.c)));
      }
    });
    return least;
  }
  function setup(frame) {
    var view = frame.querySelector('.view'), svg = view.querySelector('svg');
    if (!svg) { return; }
    var closed = frame.closest('details');
    if (closed && !closed.open) {  // sized when it is first opened
      closed.addEventListener('toggle', function first() {
        closed.removeEventListener('toggle', first);
        setup(frame);
      });
      return;
    }
    var w = svg.width.baseVal.value, h = svg.height.baseVal.value;
    var zoom = 1;
    function apply(z) {
      zoom = z;
      svg.setAttribute('width', (w * z).toFixed(1));
      svg.setAttribute('height', (h * z).toFixed(1));
      frame.querySelector('.zoom').textContent = Math.round(z * 100) + '%';
    }
    apply(1);
    var least = smallest(svg);
    var fit = Math.min(1, (view.clientWidth - 4) / w);
    var readable = isFinite(least) ? MIN / least : fit;
    apply(Math.min(1, Math.max(fit, readable)));
    // a frame too small for its figure opens on the figure's first loop box, if it has
    // one (a graph with a while loop): the top-left corner is often empty space
    var box = svg.querySelector('g.loop');
    if (box) {
      var at = box.getBoundingClientRect(), origin = view.getBoundingClientRect();
      view.scrollLeft += at.left - origin.left - 16;
      view.scrollTop += at.top - origin.top - 16;
    }
    frame.querySelector('.zin').onclick = function () { apply(zoom * 1.25); };
    frame.querySelector('.zout').onclick = function () { apply(zoom / 1.25); };
    frame.querySelector('.zfit').onclick = function () { apply((view.clientWidth - 4) / w); };
    view.addEventListener('wheel', function (e) {
      if (!e.ctrlKey) { return; }
      e.preventDefault();
      apply(zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
    }, {passive: false});
    var drag = null;
    view.addEventListener('mousedown', function (e) {
      drag = [e.clientX, e.clientY, view.scrollLeft, view.scrollTop];
    });
    window.addEventListener('mouseup', function () { drag = null; });
    view.addEventListener('mousemove', function (e) {
      if (!drag) { return; }
      view.scrollLeft = drag[2] - (e.clientX - drag[0]);
      view.scrollTop = drag[3] - (e.clientY - drag[1]);
    });
  }
  document.querySelectorAll('.frame').forEach(setup);
})();
""".replace("%MIN%", repr(MIN_TEXT_PX))


def esc(value: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(value))


def inline_svg(svg: str) -> str:
    """An SVG document as an element for inline HTML (no XML prolog or DOCTYPE)."""
    return _PROLOG.sub("", svg, count=1)


def frame(svg: str, label: str = "") -> str:
    """A figure in a zoomable frame (see the module docstring)."""
    tools = (f'<div class="tools"><span>{esc(label)}</span> <span class="zoom"></span>'
             '<button class="zout" title="zoom out">-</button>'
             '<button class="zin" title="zoom in">+</button>'
             '<button class="zfit" title="fit the width">fit</button></div>')
    return f'<div class="frame">{tools}<div class="view">{inline_svg(svg)}</div></div>'


def look(text: str) -> str:
    """A "what to look at" note (``text`` is HTML)."""
    return f'<p class="look"><b>What to look at:</b> {text}</p>'


def page(title: str, body: str, script: str = SCRIPT) -> str:
    """The whole document."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
            f"<script>{script}</script></body></html>\n")
