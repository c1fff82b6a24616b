"""Friendly misses: the error both front ends raise for a PyTorch/TF1 name they do not have.

A module that wants them defines a module-level ``__getattr__`` that raises
:func:`missing`: a well-known name tapeflow does not implement (``torch.conv2d``,
``tf.contrib``) raises :class:`UnsupportedNameError`, anything else a plain
``AttributeError``; both list the closest supported names and point to the table.
``from tapeflow.dynamic.nn import Conv2d`` raises :class:`UnsupportedImportError` instead,
with the same message (Python would turn an ``AttributeError`` there into its own bare
"cannot import name").
Dunder and private names raise a bare ``AttributeError`` so ``hasattr`` probes by
``copy``, ``pickle``, IPython and pytest stay cheap and quiet.
"""

from __future__ import annotations

import difflib
import dis
import re
import sys
from collections.abc import Iterable, Mapping
from types import FrameType

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


class UnsupportedImportError(NotImplementedError, ImportError):
    """``from <module> import <name>`` of a well-known name tapeflow does not implement.

    Not an ``AttributeError``: Python would replace that with its bare "cannot import name"
    message, dropping the suggestions.
    """


def _in_from_import() -> bool:
    """Whether the attribute lookup under way is a ``from module import name`` statement."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_name in {"missing", "miss", "__getattr__"}:
        frame = frame.f_back
    if frame is None:
        return False
    at = frame.f_lasti
    return any(i.offset == at and i.opname == "IMPORT_FROM"
               for i in dis.get_instructions(frame.f_code))


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
            supported: Iterable[str] | None = None) -> AttributeError | ImportError:
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
        message = (f"{module} does not implement {spelled}.{name}{note}; {hint}; see {TABLE} "
                   "for every supported name")
        if _in_from_import():
            return UnsupportedImportError(message)
        return UnsupportedNameError(message)
    return AttributeError(f"module {module!r} has no attribute {name!r} ({spelled}.{name} is "
                          f"not a tapeflow name); {hint}; see {TABLE}")
