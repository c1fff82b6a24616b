"""A checkpoint's table of contents, checked whole before any tensor is read.

A checkpoint file comes from outside, so every field of its table (``__tapeflow__.json``) is
checked here: its type, its range, and that the saved object's structure (``tree``) refers
to exactly the tensors the table lists, each once. Anything else is a
:class:`CheckpointError` that names the file and the fault, never a ``KeyError`` or a
``RecursionError`` from deep inside a loader. See docs/checkpoint_format.md.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dtypes as dt
from .shapes import MAX_RANK

FORMAT = "tapeflow.checkpoint"
#: 2 adds checksums: ``crc32`` in each tensor's row, ``table_crc32`` over the rest of the
#: table. Version 1 files (no checksums) are still read.
VERSION = 2
METADATA = "__tapeflow__.json"
#: How deeply a saved object may nest (dicts in lists in dicts...). Real training
#: checkpoints nest a few levels; the bound keeps a crafted file from exhausting the stack.
MAX_DEPTH = 100
_LOCAL_HEADER = b"PK\x03\x04"
_SCALARS = (str, int, float, bool, type(None))
_TENSOR_FIELDS = {"tensor": str, "requires_grad": bool, "parameter": bool, "device": str}
_DEVICES = ("cpu", "cuda")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not fit what it is loaded into.

    ``key`` names the (first) parameter involved, ``path`` the file.
    """

    __module__ = "tapeflow.runtime.checkpoint"  # where users import it from (and docs show)

    def __init__(self, message: str, key: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.path = path


@dataclass(frozen=True)
class Row:
    """One tensor as the table lists it; dtype, shape and crc32 are None in a plain npz."""

    key: str
    dtype: np.dtype[Any] | None = None
    shape: tuple[int, ...] | None = None
    crc32: int | None = None


def check_key(key: Any) -> str:
    """``key`` if it may name a checkpoint entry; else TypeError or ValueError saying why."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"checkpoint keys must be non-empty strings, got {key!r}")
    parts = key.split("/")
    if "\0" in key or "\\" in key or key.startswith("/") or ".." in parts:
        raise ValueError(f"checkpoint key {key!r} is not allowed (no NUL, backslash, leading "
                         "'/' or '..' component)")
    return key


def _bad_table(path: str, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path!r} has a damaged table of contents: {why}",
                           path=path)


def parse_table(raw: bytes, path: str) -> tuple[dict[str, Any], list[Row]]:
    """The table's JSON and its rows, after checking every field (see the module)."""
    try:
        meta: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # (RecursionError: absurdly deep JSON)
        raise _bad_table(path, f"not JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        shown = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path!r} is not a tapeflow checkpoint (format {shown!r})",
                              path=path)
    version = meta.get("version")
    if type(version) is not int or version < 1:
        raise _bad_table(path, f"version {version!r} is not a positive integer")
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this "
                              f"tapeflow reads versions up to {VERSION}", path=path)
    if not isinstance(meta.get("producer"), str):
        raise _bad_table(path, f"producer {meta.get('producer')!r} is not a string")
    if not isinstance(meta.get("tensors"), list):
        raise _bad_table(path, "'tensors' is not a list")
    rows = [_row(info, version, path) for info in meta["tensors"]]
    keys = [row.key for row in rows]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise _bad_table(path, f"tensor {duplicate!r} is listed twice")
    if "tree" not in meta:
        raise _bad_table(path, "'tree' is missing")
    if meta["tree"] is not None:
        _check_tree(meta["tree"], keys, path)
    if version >= 2 and meta.get("table_crc32") != table_crc32(meta):
        raise _bad_table(path, f"its checksum is {_short(meta.get('table_crc32'))}, its "
                               f"contents give {table_crc32(meta)}")
    return meta, rows


def table_crc32(meta: dict[str, Any]) -> int:
    """The CRC-32 of the table without its ``table_crc32`` field, in a canonical JSON form
    (sorted keys, no spaces), so a table that is edited or damaged but still parses is
    caught. (Called on a checked table only: its depth is bounded.)"""
    rest = {k: v for k, v in meta.items() if k != "table_crc32"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return zlib.crc32(text.encode("ascii"))


def _row(info: Any, version: int, path: str) -> Row:
    fields = {"key", "dtype", "shape"} | ({"crc32"} if version >= 2 else set())
    if not isinstance(info, dict) or set(info) != fields:
        raise _bad_table(path, f"a tensor's row {_short(info)} does not have exactly the "
                               f"fields {sorted(fields)}")
    key = info["key"]
    try:
        check_key(key)
    except (TypeError, ValueError) as exc:
        raise _bad_table(path, str(exc)) from None
    if info["dtype"] not in {d.name for d in dt.ALL}:
        raise _bad_table(path, f"tensor {key!r} has dtype {_short(info['dtype'])}, not a "
                               "tapeflow dtype")
    shape = info["shape"]
    if (not isinstance(shape, list) or len(shape) > MAX_RANK
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise _bad_table(path, f"tensor {key!r} has shape {_short(shape)}, not a list of at "
                               f"most {MAX_RANK} non-negative integers")
    crc = info.get("crc32")
    if version >= 2 and (type(crc) is not int or not 0 <= crc < 2**32):
        raise _bad_table(path, f"tensor {key!r} has checksum {_short(crc)}, not a CRC-32")
    return Row(key, np.dtype(dt.as_dtype(info["dtype"]).np), tuple(shape), crc)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_tree(tree: Any, keys: list[str], path: str) -> None:
    """The saved object's structure: well formed, at most MAX_DEPTH deep (checked without
    recursion), and referring to each listed tensor exactly once."""
    referred: list[str] = []
    for node, depth, where in _walk(tree):
        if depth > MAX_DEPTH:
            raise _bad_table(path, f"the saved object nests more than {MAX_DEPTH} levels deep "
                                   f"(at {where})")
        if not isinstance(node, dict) or not node:
            raise _bad_table(path, f"the saved object at {where} is {_short(node)}")
        if "tensor" in node:
            if any(not isinstance(node.get(k), t) for k, t in _TENSOR_FIELDS.items() if k in node
                   ) or not set(node) <= set(_TENSOR_FIELDS) or node.get(
                    "device", "cpu") not in _DEVICES:
                raise _bad_table(path, f"the tensor at {where} is described as {_short(node)}")
            referred.append(node["tensor"])
        elif len(node) != 1:
            raise _bad_table(path, f"the saved object at {where} is {_short(node)}")
        elif "ndarray" in node:
            if not isinstance(node["ndarray"], str):
                raise _bad_table(path, f"the array at {where} is {_short(node)}")
            referred.append(node["ndarray"])
        elif "value" in node and not isinstance(node["value"], _SCALARS):
            raise _bad_table(path, f"the value at {where} is {_short(node['value'])}")
    if sorted(referred) != sorted(keys):
        listed, used = set(keys), set(referred)
        odd = sorted(used - listed) or sorted(listed - used) or sorted(
            k for k in used if referred.count(k) > 1)
        raise _bad_table(path, f"the saved object and the tensor list disagree about "
                               f"{', '.join(repr(k) for k in odd[:5])}")


def _walk(tree: Any) -> Iterator[tuple[Any, int, str]]:
    """Every node of a tree with its depth and its path, iteratively; containers are
    checked here (a list body, [key, node] pairs with scalar unique keys)."""
    stack = [(tree, 0, "<root>")]
    while stack:
        node, depth, where = stack.pop()
        yield node, depth, where
        if not isinstance(node, dict) or len(node) != 1 or depth > MAX_DEPTH:
            continue
        ((kind, body),) = node.items()
        if kind in ("list", "tuple") and isinstance(body, list):
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(body))
        elif kind in ("dict", "ordered_dict") and isinstance(body, list) and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], _SCALARS)
                for p in body) and len({p[0] for p in body}) == len(body):
            stack.extend((value, depth + 1, f"{where}[{key!r}]") for key, value in body)
        elif kind not in ("value", "ndarray", "tensor"):
            stack.append((f"a {kind!r} node holding {_short(body)}", depth + 1, where))


def diagnose(path: str) -> CheckpointError:
    """Why a file is not a readable zip; for a cut-off checkpoint, which parameters it lacks.

    The zip directory sits at the end of a file, so a truncated file loses it; the entries
    themselves (table of contents first) can still be walked through their local headers.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    complete: list[str] = []
    cut: str | None = None
    toc = b""
    pos = 0
    while pos + 30 <= len(data) and data[pos:pos + 4] == _LOCAL_HEADER:
        flags, csize, nlen, xlen = struct.unpack("<2xH10xI4xHH", data[pos + 4:pos + 30])
        name = data[pos + 30:pos + 30 + nlen].decode("utf-8", "replace")
        start = pos + 30 + nlen + xlen
        if csize == 0xFFFFFFFF:  # zip64: the real size is in the extra field
            csize = _zip64_size(data[pos + 30 + nlen:start])
        if flags & 0x08 or start + csize > len(data):  # sizes unknown, or the data is cut
            cut = name
            break
        if not complete:
            toc = data[start:start + csize]
        complete.append(name)
        pos = start + csize
    size = len(data)
    if not complete or complete[0] != METADATA:
        return CheckpointError(f"{path!r} ({size} bytes) is not a tapeflow checkpoint, or is "
                               "truncated before its table of contents", path=path)
    try:
        _, rows = parse_table(toc, path)
    except CheckpointError as exc:
        return exc
    present = {n[:-4] for n in complete[1:] if n.endswith(".npy")}
    missing = [row.key for row in rows if row.key not in present]
    if not missing:
        return CheckpointError(f"checkpoint {path!r} ({size} bytes) is damaged: every "
                               "parameter's data is there but the zip directory is missing "
                               "or broken", path=path)
    detail = (f"the data of {cut[:-4]!r} is cut off" if cut and cut.endswith(".npy")
              else "its data ends early")
    return CheckpointError(
        f"checkpoint {path!r} is truncated ({size} bytes): {detail}; missing parameter(s): "
        f"{', '.join(repr(k) for k in missing)}", key=missing[0], path=path)


def _zip64_size(extra: bytes) -> int:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[at:at + 4])
        if tag == 0x0001 and length >= 16 and at + 20 <= len(extra):
            return int(struct.unpack("<Q", extra[at + 12:at + 20])[0])  # after the full size
        at += 4 + length
    return 0xFFFFFFFF
