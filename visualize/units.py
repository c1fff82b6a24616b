"""One unit convention for every number a figure or the report prints.

Bytes in B, KiB and MiB (powers of 1024); times in ms; other numbers with at most six
significant digits, so a float32 learning rate prints as ``0.1``, not as
``0.10000000149011612``.

Example:
    >>> fmt_bytes(1536), fmt_ms(0.0025), fmt_number(0.10000000149011612)
    ('1.5 KiB', '2.50 ms', '0.1')
"""

from __future__ import annotations

from typing import Any


def fmt_bytes(n: Any) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``; ``-`` for None."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MiB"


def fmt_ms(seconds: Any, digits: int = 2) -> str:
    """Seconds shown in milliseconds: ``2.50 ms``; ``-`` for None."""
    return "-" if seconds is None else f"{float(seconds) * 1e3:.{digits}f} ms"


def fmt_number(value: Any) -> str:
    """A scalar with at most six significant digits (float32 noise dropped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and \
            not hasattr(value, "item"):
        return repr(value)
    value = value.item() if hasattr(value, "item") else value
    return repr(value) if isinstance(value, int) else f"{value:.6g}"
