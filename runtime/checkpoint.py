"""The one checkpoint file format both modes write and read (see docs/checkpoint_format.md).

A checkpoint is an uncompressed zip (numpy's ``.npz`` layout): a JSON table of contents
``__tapeflow__.json`` as the FIRST entry, then one ``<key>.npy`` entry per tensor, in order.
Because the table of contents comes first, a file cut short still says which parameters it
should have held, so the error for a truncated file names the ones that are missing.
``np.load(path)`` reads the tensors of any checkpoint; a plain ``np.savez`` file (no table of
contents) is read too, as a flat mapping.

Static ``tf.train.Saver`` and dynamic ``torch.save``/``torch.load`` are thin layers over
:func:`write_checkpoint`, :func:`read_checkpoint` and :func:`select`.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dtypes as dt

FORMAT = "tapeflow.checkpoint"
VERSION = 1
METADATA = "__tapeflow__.json"
_LOCAL_HEADER = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not fit what it is loaded into.

    ``key`` names the (first) parameter involved, ``path`` the file.
    """

    def __init__(self, message: str, key: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.path = path


@dataclass
class Checkpoint:
    """A checkpoint read into memory: host arrays by key (in file order) and the metadata.

    ``meta["producer"]`` says which mode wrote it; ``meta.get("tree")`` is the structure a
    dynamic ``save`` recorded for a nested object (None for a flat mapping).
    """

    path: str
    tensors: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"checkpoint keys must be non-empty strings, got {key!r}")
    parts = key.split("/")
    if "\0" in key or "\\" in key or key.startswith("/") or ".." in parts:
        raise ValueError(f"checkpoint key {key!r} is not allowed (no NUL, backslash, leading "
                         "'/' or '..' component)")
    return key


def _dtype_name(key: str, array: np.ndarray) -> str:
    try:
        return dt.of_array(array).name
    except KeyError:
        raise TypeError(f"cannot save {key!r}: dtype {array.dtype} is not a tapeflow dtype "
                        f"({', '.join(d.name for d in dt.ALL)})") from None


def write_checkpoint(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], *,
                     producer: str, tree: Any = None) -> str:
    """Writes ``tensors`` (host arrays by key) to ``path`` atomically; returns the path.

    The file appears complete or not at all: it is written next to ``path`` under a
    temporary name and renamed into place, so an interrupted save leaves the old file.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> _ = write_checkpoint(p, {"w": np.ones(2, np.float32)}, producer="doc")
        >>> read_checkpoint(p).tensors["w"].tolist()
        [1.0, 1.0]
    """
    path = os.fspath(path)
    entries: list[tuple[str, np.ndarray]] = []
    table: list[dict[str, Any]] = []
    for key, value in tensors.items():
        _check_key(key)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"cannot save {key!r}: expected a host numpy array, got "
                            f"{type(value).__name__}")
        table.append({"key": key, "dtype": _dtype_name(key, value), "shape": list(value.shape)})
        entries.append((key, value))
    meta = {"format": FORMAT, "version": VERSION, "producer": producer, "tensors": table,
            "tree": tree}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tapeflow-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA, json.dumps(meta, indent=1))
            for key, array in entries:
                big = array.nbytes > (1 << 30)
                with zf.open(key + ".npy", "w", force_zip64=big) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a checkpoint is ordinary data
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads every tensor of a checkpoint, checking each against the table of contents.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: a truncated or damaged file (naming the parameters it lacks), or
            a file that is not a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise _diagnose(path) from None
    with zf:
        names = zf.namelist()
        if METADATA in names:
            meta = _metadata(zf.read(METADATA), path)
        else:  # a plain np.savez file: every .npy entry, in order
            table = [{"key": n[:-4]} for n in names if n.endswith(".npy")]
            meta = {"format": "npz", "version": VERSION, "producer": "numpy", "tensors": table,
                    "tree": None}
        try:
            entries = [(str(info["key"]), info) for info in meta["tensors"]]
        except (KeyError, TypeError):
            raise CheckpointError(f"checkpoint {path!r} has a damaged table of contents (a "
                                  "tensor without a key)", path=path) from None
        tensors = {key: _read_entry(zf, path, info) for key, info in entries}
    return Checkpoint(path, tensors, meta)


def _metadata(raw: bytes, path: str) -> dict[str, Any]:
    try:
        meta: Any = json.loads(raw)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path!r} has a damaged table of contents ({exc})",
                              path=path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        shown = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path!r} is not a tapeflow checkpoint (format {shown!r})",
                              path=path)
    if int(meta.get("version", 0)) > VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {meta['version']}; this "
                              f"tapeflow reads versions up to {VERSION}", path=path)
    return meta


def _read_entry(zf: zipfile.ZipFile, path: str, info: dict[str, Any]) -> np.ndarray:
    key = info["key"]
    try:
        with zf.open(key + ".npy") as handle:
            array = np.lib.format.read_array(handle, allow_pickle=False)
    except KeyError:
        raise CheckpointError(f"checkpoint {path!r} lists parameter {key!r} but holds no data "
                              "for it", key=key, path=path) from None
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path!r}: the data of parameter {key!r} is damaged "
                              f"({exc})", key=key, path=path) from None
    if "dtype" in info:
        expected = (np.dtype(info["dtype"]), tuple(info["shape"]))
        if (array.dtype, array.shape) != expected:
            raise CheckpointError(f"checkpoint {path!r}: parameter {key!r} holds "
                                  f"{array.dtype}{list(array.shape)} but its table of contents "
                                  f"says {info['dtype']}{info['shape']}", key=key, path=path)
    return array


def _diagnose(path: str) -> CheckpointError:
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
        meta = _metadata(toc, path)
    except CheckpointError as exc:
        return exc
    keys = [info["key"] for info in meta["tensors"]]
    present = {n[:-4] for n in complete[1:] if n.endswith(".npy")}
    missing = [k for k in keys if k not in present]
    if not missing:
        return CheckpointError(f"checkpoint {path!r} ({size} bytes) is damaged: every "
                               "parameter's data is there but the zip directory is missing",
                               path=path)
    detail = (f"the data of {cut[:-4]!r} is cut off" if cut and cut.endswith(".npy")
              else "its data ends early")
    return CheckpointError(
        f"checkpoint {path!r} is truncated ({size} bytes): {detail}; missing parameter(s): "
        f"{', '.join(repr(k) for k in missing)}", key=missing[0], path=path)


def _zip64_size(extra: bytes) -> int:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[at:at + 4])
        if tag == 0x0001 and length >= 16:
            return int(struct.unpack("<Q", extra[at + 12:at + 20])[0])  # after the full size
        at += 4 + length
    return 0xFFFFFFFF


def select(checkpoint: Checkpoint,
           wanted: Mapping[str, tuple[Sequence[int | None] | None, Any]],
           what: str) -> dict[str, np.ndarray]:
    """The arrays for ``wanted`` keys (key -> (shape, dtype)), all checked before any is used.

    Every problem is reported at once; the error's ``key`` is the first parameter named.

    Raises:
        CheckpointError: keys missing from the checkpoint, or stored with another shape or
            dtype. ``what`` names the destination in the message (``"Saver.restore"``).
    """
    problems: list[tuple[str, str]] = []
    out: dict[str, np.ndarray] = {}
    for key, (shape, dtype) in wanted.items():
        array = checkpoint.tensors.get(key)
        if array is None:
            problems.append((key, f"key {key!r} not found in checkpoint"))
            continue
        want = tuple(array.shape if shape is None else shape)  # None: any shape fits
        fits = len(want) == array.ndim and all(
            w is None or w == s for w, s in zip(want, array.shape, strict=True))
        if not fits:
            problems.append((key, f"{key!r}: shape {list(array.shape)} in the checkpoint does "
                                  f"not match shape {list(want)} of the destination"))
        elif np.dtype(dt.as_dtype(dtype).np) != array.dtype:
            problems.append((key, f"{key!r}: dtype {array.dtype} in the checkpoint does not "
                                  f"match dtype {dt.as_dtype(dtype).name} of the destination"))
        else:
            out[key] = array
    if problems:
        lines = "\n\t".join(message for _, message in problems)
        raise CheckpointError(f"{what}: cannot restore from {checkpoint.path!r}; nothing was "
                              f"changed:\n\t{lines}", key=problems[0][0], path=checkpoint.path)
    return out
