"""Headless Chromium as a measuring tool for the report's tests (Debian's ``chromium``,
no Python dependency): a probe script is added to a copy of the page, Chromium runs it
with ``--dump-dom``, and the probe's findings come back as JSON inside the dumped DOM.

The probe collects: console errors and uncaught exceptions; how far the page overflows
its window horizontally; the rendered size in pixels of every text inside a figure frame
(font size times the scale of the transforms above it, so zoom counts); and whatever the
page's own check (``window.__probe``, a function returning JSON-able data) reports.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-sync", "--disable-component-update",
         "--hide-scrollbars", "--disable-extensions"]

HEAD = """<script>window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
(function () { var real = console.error; console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' ')); real.apply(console, arguments);
}; })();</script>"""

TAIL = """<script>setTimeout(function () {
  var out = {errors: window.__errors, texts: 0, small: [],
             overflow: document.documentElement.scrollWidth - window.innerWidth,
             width: window.innerWidth};
  document.querySelectorAll('.frame svg text').forEach(function (t) {
    if (!t.textContent.trim()) { return; }
    var size = parseFloat(getComputedStyle(t).fontSize), m = t.getScreenCTM();
    if (!m || !size) { return; }
    var px = size * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
    out.texts += 1;
    if (px < 7.95) {
      var f = t.closest('.frame').querySelector('.tools span');
      out.small.push([f ? f.textContent : '?', t.textContent.slice(0, 40), +px.toFixed(2)]);
    }
  });
  if (window.__probe) { try { out.page = window.__probe(); }
                        catch (e) { out.errors.push('probe: ' + e); } }
  var pre = document.createElement('pre'); pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 50);</script>"""


def available() -> bool:
    return Path(CHROMIUM).exists()


def probe(page: Path, width: int, height: int = 900, extra: str = "") -> dict[str, Any]:
    """Opens a probed copy of ``page`` at ``width`` x ``height`` and returns the findings;
    ``extra`` is more script (HTML) added before the probe runs."""
    text = page.read_text()
    text = text.replace("<head>", "<head>" + HEAD, 1)
    text = text.replace("</body>", extra + TAIL + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        copy = page.parent / f".probe_{width}_{page.name}"
        copy.write_text(text)
        try:
            done = subprocess.run(
                [CHROMIUM, *FLAGS, f"--user-data-dir={tmp}", f"--window-size={width},{height}",
                 "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()],
                capture_output=True, timeout=120, check=False, text=True)
        finally:
            copy.unlink()
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise AssertionError(f"chromium returned no probe result (exit {done.returncode}): "
                             f"{done.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))
