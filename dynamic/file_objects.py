"""``torch.save(obj, f)`` / ``torch.load(f)`` with ``f`` an open binary file (or BytesIO).

The checkpoint reader checks a file whole (its size, its zip directory, every entry's
checksum) before it trusts it, and the writer replaces a file atomically; both work on
paths. A file object is therefore bridged through a private temporary file: a save writes
the checkpoint there and copies its bytes to ``f``; a load copies ``f``'s remaining bytes
there and reads them with every check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any


def is_path(f: Any) -> bool:
    return isinstance(f, (str, os.PathLike))


def _check(f: Any, method: str, what: str) -> None:
    if not callable(getattr(f, method, None)):
        raise TypeError(f"{what}: expected a file path (str or os.PathLike) or a binary file "
                        f"object with {method}(), got {type(f).__name__}")


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="tapeflow-io-")
    try:
        yield os.path.join(folder, "checkpoint")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def writing(f: Any, what: str) -> Iterator[str]:
    """A path to write the checkpoint to; its bytes go to the file object ``f`` after."""
    _check(f, "write", what)
    with _scratch() as path:
        yield path
        with open(path, "rb") as handle:
            shutil.copyfileobj(handle, f)
    if callable(getattr(f, "flush", None)):
        f.flush()


@contextlib.contextmanager
def reading(f: Any, what: str) -> Iterator[str]:
    """A path holding the bytes still to be read from the file object ``f``."""
    _check(f, "read", what)
    with _scratch() as path:
        with open(path, "wb") as handle:
            shutil.copyfileobj(f, handle)
        yield path
