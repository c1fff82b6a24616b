"""Damaged checkpoints: every mutated file raises CheckpointError or loads exactly as saved.

Issue 18, item 11: of 3,000 randomly mutated files, 1,609 raised a raw ``BadZipFile``, 33
other raw errors, and about 100 loaded anyway, some as a flat or empty dict. Here hypothesis
mutates a real ``torch.save`` checkpoint (bytes flipped, overwritten, inserted, deleted, the
file cut) and rewrites its table of contents (a field deleted or replaced, with and without
fixing the table's checksum): ``torch.load`` must raise ``CheckpointError`` or return the
very object that was saved. Examples are drawn from a fixed seed and bounded in number.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import tapeflow.dynamic as torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tapeflow.runtime.checkpoint import METADATA, CheckpointError
from tapeflow.runtime.checkpoint_table import table_crc32

# fixed seeds and bounded counts: about 10 s for both tests on a shared CPU
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow])


def _saved_object() -> dict[str, Any]:
    return {"epoch": 3, "model": OrderedDict([("fc.weight", torch.ones(2, 3)),
                                              ("fc.bias", torch.arange(3))]),
            "history": [0.5, None, True], "mask": np.array([True, False]), "shape": (2, 3)}


_DIR = tempfile.mkdtemp(prefix="tapeflow-fuzz-")
_ORIGINAL = os.path.join(_DIR, "original.pt")
torch.save(_saved_object(), _ORIGINAL)
with open(_ORIGINAL, "rb") as _handle:
    DATA = _handle.read()


def _same(a: Any, b: Any) -> bool:
    """Equal values AND equal structure: container types, key order, dtypes, shapes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        a, b = a.numpy(), b.numpy()
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return bool(a == b)


def _loads_as_saved_or_refuses(data: bytes, exact: bool = True) -> bool:
    """True when the file loads (as the original object, if ``exact``); False for
    CheckpointError. Any other error propagates and fails the test."""
    path = os.path.join(_DIR, "mutated.pt")
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        loaded = torch.load(path)
    except CheckpointError as exc:
        assert path in str(exc)  # the message names the file
        return False
    assert not exact or _same(loaded, torch.load(_ORIGINAL)), f"loaded as {loaded!r}"
    return True


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(DATA)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "byte", "insert", "delete", "cut"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
        if not data:
            break
    return bytes(data)


@settings(max_examples=800, **FUZZ)
@given(mutated_bytes())
def test_mutated_files_raise_checkpoint_error_or_load_exactly(data: bytes) -> None:
    _loads_as_saved_or_refuses(data)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-3, 2**33) | st.floats() | st.text(
        max_size=12)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["key", "dtype", "shape", "crc32", "tensor", "dict", "list", "value",
                         "ndarray", "device"]), inner, max_size=3), max_leaves=6)


def _places(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON value, the root's fields included."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        out.append((node, key))
        if isinstance(value, (dict, list)):
            _places(value, out)
    return out


def _with_table(meta: dict[str, Any]) -> bytes:
    """The original file's entries behind another table of contents, zip CRCs all correct."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(DATA)) as source, zipfile.ZipFile(buffer, "w") as out:
        out.writestr(METADATA, json.dumps(meta))
        for name in source.namelist()[1:]:
            out.writestr(name, source.read(name))
    return buffer.getvalue()


@settings(max_examples=250, **FUZZ)
@given(st.data())
def test_edited_tables_raise_checkpoint_error_or_load_exactly(data: st.DataObject) -> None:
    with zipfile.ZipFile(io.BytesIO(DATA)) as source:
        meta = json.loads(source.read(METADATA))
    original = json.loads(json.dumps(meta))
    places = _places(meta, [])
    container, key = places[data.draw(st.integers(0, len(places) - 1), label="place")]
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "nest"]))
    if action == "replace":
        container[key] = data.draw(_json_values(), label="value")
    elif action == "delete":
        del container[key]
    elif action == "duplicate" and isinstance(container, list):
        container.insert(key, json.loads(json.dumps(container[key])))
    else:  # bury the value under many levels of lists
        for _ in range(data.draw(st.integers(1, 400), label="depth")):
            container[key] = {"list": [container[key]]}
    crafted = data.draw(st.booleans(), label="checksum recomputed")
    if crafted:  # a consistent table says what it says: it must load or be refused cleanly
        meta["table_crc32"] = table_crc32(meta)
    loaded = _loads_as_saved_or_refuses(_with_table(meta), exact=not crafted)
    if not crafted and meta != original:
        assert not loaded  # the table's checksum catches every edit that still parses
