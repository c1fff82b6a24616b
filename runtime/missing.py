"""Friendly misses: the error both front ends raise for a PyTorch/TF1 name they do not have.

A module that wants them defines a module-level ``__getattr__`` that raises
:func:`missing`: a well-known name tapeflow does not implement (``torch.conv2d``,
``tf.contrib``) raises :class:`UnsupportedNameError`, anything else a plain
``AttributeError``; both list the closest supported names and point to the table.
Dunder and private names raise a bare ``AttributeError`` so ``hasattr`` probes by
``copy``, ``pickle``, IPython and pytest stay cheap and quiet.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping

#: The generated compatibility table (``python docs/generate_compat.py`` writes it).
TABLE = "docs/compatibility.md"


class UnsupportedNameError(NotImplementedError, AttributeError):
    """A well-known PyTorch or TF1 name that tapeflow does not implement.

    It is an ``AttributeError`` too, so ``hasattr(torch, "conv2d")`` is simply False.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> hasattr(torch, "conv2d")
        False
    """


def public_names(module: str) -> list[str]:
    """The names ``module`` offers: its ``__all__``, else the functions and classes it defines
    (imported helpers such as ``Any`` or another module's functions are not its names)."""
    mod = sys.modules[module]
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items()
                 if not n.startswith("_") and getattr(v, "__module__", None) == module]
    return sorted(set(names))


def closest(name: str, supported: Iterable[str], n: int = 4) -> list[str]:
    """Up to ``n`` supported names spelled most like ``name`` (case-insensitive)."""
    by_lower: dict[str, str] = {}
    for s in supported:
        by_lower.setdefault(s.lower(), s)
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[f] for f in found]


def missing(module: str, spelled: str, name: str, known: Mapping[str, str],
            supported: Iterable[str] | None = None) -> AttributeError:
    """The error for ``<spelled>.<name>`` looked up on ``module`` and not found.

    Args:
        module: the module's import name (``tapeflow.dynamic``).
        spelled: how users spell the module (``torch``, ``tf.nn``).
        name: the attribute asked for.
        known: well-known names tapeflow lacks -> a short note (what to use instead).
        supported: the names to suggest from (default: the module's public names).

    Example:
        >>> err = missing("tapeflow.runtime", "runtime", "evaluat", {})
        >>> "closest supported names: runtime.evaluate" in str(err)
        True
    """
    if name.startswith("_"):
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    names = public_names(module) if supported is None else sorted(set(supported))
    near = closest(name, names)
    if name in known:
        # the supported names the note mentions ("it has Linear, Embedding and RNN") come first
        words = re.findall(r"[A-Za-z_]\w*", known[name])
        near = list(dict.fromkeys([w for w in words if w in names] + near))[:4]
    hint = (f"closest supported names: {', '.join(f'{spelled}.{n}' for n in near)}" if near
            else "no supported name is spelled like it")
    if name in known:
        note = f" ({known[name]})" if known[name] else ""
        return UnsupportedNameError(f"{module} does not implement {spelled}.{name}{note}; "
                                    f"{hint}; see {TABLE} for every supported name")
    return AttributeError(f"module {module!r} has no attribute {name!r} ({spelled}.{name} is "
                          f"not a tapeflow name); {hint}; see {TABLE}")
