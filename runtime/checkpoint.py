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

import contextlib
import json
import os
import secrets
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from . import dtypes as dt
from .checkpoint_table import (
    FORMAT,
    METADATA,
    VERSION,
    CheckpointError,
    Row,
    check_key,
    diagnose,
    parse_table,
    table_crc32,
)
from .memory import tensor_nbytes, too_large

__all__ = ["FORMAT", "METADATA", "VERSION", "Checkpoint", "CheckpointError", "atomic_file",
           "read_checkpoint", "select", "write_checkpoint"]

_CHUNK = 1 << 24  # bytes read at a time into a tensor's buffer
#: What parsing a damaged zip can raise (zipfile and numpy's header reader raise all of
#: these for one bad byte or another); each becomes a CheckpointError naming the file.
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
           IndexError, TypeError, RuntimeError, OverflowError, struct.error, zlib.error)


@dataclass
class Checkpoint:
    """A checkpoint read into memory: host arrays by key (in file order) and the metadata.

    ``meta["producer"]`` says which mode wrote it; ``meta.get("tree")`` is the structure a
    dynamic ``save`` recorded for a nested object (None for a flat mapping).
    """

    path: str
    tensors: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def _dtype_name(key: str, array: np.ndarray) -> str:
    try:
        return dt.of_array(array).name
    except (KeyError, TypeError):
        raise TypeError(f"cannot save {key!r}: dtype {array.dtype} is not a tapeflow dtype "
                        f"({', '.join(d.name for d in dt.ALL)})") from None


class _Crc32:
    """A write-only sink that keeps the CRC-32 of what is written to it."""

    def __init__(self) -> None:
        self.value = 0

    def write(self, data: bytes) -> int:
        self.value = zlib.crc32(data, self.value)
        return len(data)


def _npy_crc32(array: np.ndarray) -> int:
    # the CRC of the entry's exact bytes: the zip records the same number for the entry,
    # and the reader checks both (a streaming pass: no second copy of the array in memory)
    sink = _Crc32()
    np.lib.format.write_array(sink, array, allow_pickle=False)  # type: ignore[arg-type]
    return sink.value


def write_checkpoint(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], *,
                     producer: str, tree: Any = None) -> str:
    """Writes ``tensors`` (host arrays by key) to ``path`` atomically; returns the path.

    The file appears complete or not at all (see :func:`atomic_file`: an interrupted save
    leaves the old file, and the new file's permissions follow the umask as ``open()``'s).

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
        check_key(key)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"cannot save {key!r}: expected a host numpy array, got "
                            f"{type(value).__name__}")
        table.append({"key": key, "dtype": _dtype_name(key, value),
                      "shape": list(value.shape), "crc32": _npy_crc32(value)})
        entries.append((key, value))
    meta = {"format": FORMAT, "version": VERSION, "producer": producer, "tensors": table,
            "tree": tree}
    meta["table_crc32"] = table_crc32(meta)
    with atomic_file(path) as handle:
        zf = None
        try:
            zf = zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED)
            zf.writestr(METADATA, json.dumps(meta, indent=1))
            for (key, array), row in zip(entries, table, strict=True):
                big = array.nbytes > (1 << 30)
                with zf.open(key + ".npy", "w", force_zip64=big) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)
                assert zf.getinfo(key + ".npy").CRC == row["crc32"], key
        except BaseException:
            # abandon the zip (atomic_file deletes its file): closing it could raise over
            # the real error, e.g. for an entry still open when a KeyboardInterrupt came
            if zf is not None:
                zf.fp = None
            raise
        zf.close()
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the ``with`` block ends without an error.

    The data goes to a new file beside ``path`` that is renamed over it at the end, so
    readers see the old file or the whole new one, never a part, even if the block is
    interrupted (KeyboardInterrupt included). A new file gets the permissions ``open()``
    would give it (``0o666`` less the umask); a replaced file keeps its own, so a private
    checkpoint stays private.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "state")
        >>> with atomic_file(p) as f:
        ...     _ = f.write(b"model-1")
        >>> open(p, "rb").read()
        b'model-1'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        keep: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        keep = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask, as for open()
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"could not create a temporary file beside {path!r}")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        if keep is not None:
            os.chmod(tmp, keep)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads every tensor of a checkpoint, checking the file whole before trusting it.

    The table of contents must be well formed, the zip must list exactly the tensors it
    names, uncompressed, each with the checksum, dtype and shape the table records, and no
    tensor may exceed ``memory.MAX_TENSOR_BYTES``; all of it is checked before a tensor's
    memory is allocated.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: a truncated or damaged file (naming the parameters it lacks, or
            what is wrong), or a file that is not a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    with open(path, "rb") as handle:
        try:
            zf = zipfile.ZipFile(handle)
        except _DAMAGE:
            raise diagnose(path) from None
        with zf:
            try:
                meta, rows, infos = _contents(zf, path, os.fstat(handle.fileno()).st_size)
                tensors = {row.key: _read_entry(zf, info, row, path)
                           for row, info in zip(rows, infos, strict=True)}
            except CheckpointError:
                raise
            except _DAMAGE as exc:
                raise CheckpointError(f"checkpoint {path!r} is damaged ({type(exc).__name__}: "
                                      f"{exc})", path=path) from None
    return Checkpoint(path, tensors, meta)


def _contents(zf: zipfile.ZipFile, path: str, size: int
              ) -> tuple[dict[str, Any], list[Row], list[zipfile.ZipInfo]]:
    """The table, its rows and the zip entries that hold them, matched one to one; no entry
    may claim more bytes than the file (``size``) has, so none is allocated for."""
    infos = zf.infolist()
    names = [info.filename for info in infos]
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise CheckpointError(f"checkpoint {path!r} is damaged: entry {info.filename!r} "
                                  "appears more than once", path=path)
        seen.add(info.filename)
        fault = _stored_fault(info)
        if not fault and info.header_offset + info.compress_size > size:
            fault = (f"is damaged: the zip directory gives it {info.compress_size} bytes, past "
                     f"the end of the file ({size} bytes)")
        if fault:
            raise CheckpointError(f"checkpoint {path!r}: entry {info.filename!r} {fault}",
                                  path=path)
    if names[:1] == [METADATA]:
        meta, rows = parse_table(zf.read(infos[0]), path)
        expected = [row.key + ".npy" for row in rows]
        if names[1:] != expected:
            odd = sorted(set(names[1:]) ^ set(expected)) or ["their order"]
            raise CheckpointError(f"checkpoint {path!r} is damaged: its entries do not match "
                                  f"its table of contents ({', '.join(map(repr, odd[:5]))})",
                                  path=path)
        return meta, rows, infos[1:]
    strays = [n for n in names if not n.endswith(".npy") or n == ".npy"]
    if strays:  # (a table of contents that is not first counts as a stray)
        raise CheckpointError(f"{path!r} is not a tapeflow checkpoint or numpy .npz file, or "
                              f"is damaged: entry {strays[0]!r} is not a .npy array", path=path)
    meta = {"format": "npz", "version": VERSION, "producer": "numpy", "tree": None,
            "tensors": [{"key": n[:-4]} for n in names]}
    return meta, [Row(n[:-4]) for n in names], infos


def _stored_fault(info: zipfile.ZipInfo) -> str | None:
    # compressed entries are refused, not inflated: a small file could unpack to gigabytes
    if info.flag_bits & 0x1:
        return "is encrypted; checkpoint entries are stored as they are"
    if info.compress_type != zipfile.ZIP_STORED:
        return (f"is compressed (zip method {info.compress_type}); checkpoint entries are "
                "stored as they are")
    if info.file_size != info.compress_size:
        return (f"is damaged: the zip directory gives it {info.compress_size} bytes stored "
                f"and {info.file_size} unpacked")
    return None


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, row: Row, path: str) -> np.ndarray:
    def damaged(why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path!r}: the data of parameter {row.key!r} is "
                               f"damaged ({why})", key=row.key, path=path)

    if row.crc32 is not None and info.CRC != row.crc32:
        raise damaged(f"its checksum is {info.CRC:#010x} in the zip directory and "
                      f"{row.crc32:#010x} in the table of contents")
    try:
        with zf.open(info) as handle:
            shape, fortran, dtype = _npy_header(handle)
            _check_header(row, shape, dtype, info.file_size - handle.tell(), path)
            flat = np.empty(tensor_nbytes(shape, 1), dtype)  # (the count of elements)
            _fill(handle, memoryview(flat.view(np.uint8)))
            if handle.read(1):  # (also makes zipfile check the entry's CRC-32 at its end)
                raise ValueError("bytes after the array's data")
    except CheckpointError:
        raise
    except _DAMAGE as exc:
        raise damaged(f"{type(exc).__name__}: {exc}") from None
    array = flat.reshape(shape, order="F" if fortran else "C")
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)  # type: ignore[no-any-return]
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)  # type: ignore[no-any-return]
    raise ValueError(f"unsupported .npy format version {version}")


def _check_header(row: Row, shape: tuple[int, ...], dtype: np.dtype[Any], data_bytes: int,
                  path: str) -> None:
    """The .npy header against the table and the entry's size, before any allocation."""
    where = f"checkpoint {path!r}: parameter {row.key!r}"
    native = dtype.newbyteorder("=") if dtype.byteorder != "|" else dtype
    if dtype.hasobject or native not in {d.np for d in dt.ALL}:
        raise CheckpointError(f"{where} has dtype {dtype}, not a tapeflow dtype", key=row.key,
                              path=path)
    if row.dtype is not None and (dtype, shape) != (row.dtype, row.shape):
        raise CheckpointError(f"{where} holds {dtype}{list(shape)} but its table of contents "
                              f"says {row.dtype}{list(row.shape or ())}", key=row.key,
                              path=path)
    reason = too_large(shape, dtype.itemsize)
    if reason is not None:
        raise CheckpointError(f"{where} would take {reason}", key=row.key, path=path)
    nbytes = tensor_nbytes(shape, dtype.itemsize)
    if nbytes != data_bytes:
        raise CheckpointError(f"{where} is damaged: its header says {nbytes} bytes of data, "
                              f"the entry holds {data_bytes}", key=row.key, path=path)


def _fill(handle: IO[bytes], view: memoryview) -> None:
    done = 0
    while done < len(view):
        chunk = handle.read(min(_CHUNK, len(view) - done))
        if not chunk:
            raise EOFError(f"the data ends after {done} of {len(view)} bytes")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)


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
