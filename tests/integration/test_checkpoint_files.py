"""Checkpoint files from outside: permissions, hostile or malformed contents, old versions.

Issue 18, items 10 and 11: files follow the umask as numpy's and PyTorch's do; compressed
entries (a zip bomb), tensors over the size cap, malformed or absurdly nested tables and
entries that disagree with the table raise ``CheckpointError`` naming the file and the fault;
files of format version 1 (no checksums) still load.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import memory
from tapeflow.runtime.checkpoint import (
    METADATA,
    CheckpointError,
    read_checkpoint,
    write_checkpoint,
)
from tapeflow.runtime.checkpoint_table import table_crc32


def _mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path: Path):
    script = textwrap.dedent("""
        import os, sys, numpy as np
        from tapeflow.runtime.checkpoint import atomic_file, write_checkpoint
        os.umask(int(sys.argv[2], 8))
        write_checkpoint(os.path.join(sys.argv[1], "new.ckpt"), {"w": np.ones(2)},
                         producer="test")
        with atomic_file(os.path.join(sys.argv[1], "state")) as handle:
            handle.write(b"model-1")
        np.save(os.path.join(sys.argv[1], "numpy.npy"), np.ones(2))
    """)
    for umask, expected in (("077", 0o600), ("022", 0o644), ("002", 0o664)):
        folder = tmp_path / umask
        folder.mkdir()
        subprocess.run([sys.executable, "-c", script, str(folder), umask], check=True)
        assert _mode(folder / "numpy.npy") == expected  # what numpy does
        assert _mode(folder / "new.ckpt") == expected
        assert _mode(folder / "state") == expected
    private = tmp_path / "private.pt"
    torch.save({"w": torch.ones(2)}, private)
    os.chmod(private, 0o600)
    torch.save({"w": torch.zeros(2)}, private)  # overwriting keeps it private
    assert _mode(private) == 0o600
    assert torch.load(private)["w"].tolist() == [0.0, 0.0]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _zip(path: Path, entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED
         ) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def _table(rows: list[dict[str, Any]], tree: Any = None, version: int = 2) -> bytes:
    meta: dict[str, Any] = {"format": "tapeflow.checkpoint", "version": version,
                            "producer": "test", "tensors": rows, "tree": tree}
    if version >= 2:
        meta["table_crc32"] = table_crc32(meta)
    return json.dumps(meta).encode()


def _row(key: str, array: np.ndarray) -> dict[str, Any]:
    import zlib

    return {"key": key, "dtype": str(array.dtype), "shape": list(array.shape),
            "crc32": zlib.crc32(_npy(array))}


def test_a_compressed_entry_is_refused_before_it_is_inflated(tmp_path: Path):
    big = np.zeros(1 << 24, np.float32)  # 64 MiB of zeros deflate to about 64 KiB
    bomb = _zip(tmp_path / "bomb.pt", [(METADATA, _table([_row("w", big)])),
                                        ("w.npy", _npy(big))], zipfile.ZIP_DEFLATED)
    assert os.path.getsize(bomb) < 1 << 20
    with pytest.raises(CheckpointError, match=r"'__tapeflow__.json' is compressed"):
        read_checkpoint(bomb)
    plain = _zip(tmp_path / "plain.npz", [("w.npy", _npy(big))], zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match=r"'w.npy' is compressed .*stored as they are"):
        torch.load(plain)  # np.savez_compressed files are refused too


def test_the_size_cap_applies_on_load_before_allocating(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "w.pt"
    write_checkpoint(path, {"w": np.ones((64, 64), np.float32)}, producer="test")
    monkeypatch.setattr(memory, "MAX_TENSOR_BYTES", 1024)
    with pytest.raises(CheckpointError, match=r"'w' would take 16384 bytes .*1024-byte limit"):
        read_checkpoint(path)
    monkeypatch.undo()
    assert read_checkpoint(path).tensors["w"].shape == (64, 64)
    # headers that claim more data than the file holds: refused before any allocation
    for count, message in ((999, "header says 3996 bytes of data, the entry holds 0"),
                           (10**12, "above the 68719476736-byte limit")):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (count,)})
        lying = _zip(tmp_path / "lying.npz", [("w.npy", header.getvalue())])
        with pytest.raises(CheckpointError, match=message):
            read_checkpoint(lying)


def test_malformed_tables_name_the_fault(tmp_path: Path):
    w = np.ones(2, np.float32)
    cases = {
        "no_key": ([{"dtype": "float32", "shape": [2], "crc32": 0}], None, "fields"),
        "not_a_list": ("w", None, "'tensors' is not a list"),
        "bad_shape": ([{**_row("w", w), "shape": [-2]}], None, "non-negative"),
        "bad_dtype": ([{**_row("w", w), "dtype": "object"}], None, "not a tapeflow dtype"),
        "tree_names_other": ([_row("w", w)], {"ndarray": "v"}, "disagree about 'v'"),
        "tree_twice": ([_row("w", w)], {"list": [{"ndarray": "w"}, {"ndarray": "w"}]},
                       "disagree about 'w'"),
        "tree_kind": ([_row("w", w)], {"set": [{"ndarray": "w"}]}, "'set' node"),
        "tree_device": ([_row("w", w)], {"tensor": "w", "device": "tpu"}, "described as"),
    }
    for name, (rows, tree, message) in cases.items():
        entries = [(METADATA, _table(rows, tree))] + ([("w.npy", _npy(w))] if isinstance(
            rows, list) and rows and "key" in rows[0] else [])
        path = _zip(tmp_path / f"{name}.pt", entries)
        with pytest.raises(CheckpointError, match=message) as info:
            torch.load(path)
        assert str(path) in str(info.value), name


def test_absurd_nesting_is_refused_on_load_and_on_save(tmp_path: Path):
    w = np.ones(2, np.float32)
    deep: Any = {"ndarray": "w"}
    for _ in range(150):
        deep = {"list": [deep]}
    path = _zip(tmp_path / "deep.pt", [(METADATA, _table([_row("w", w)], deep)),
                                       ("w.npy", _npy(w))])
    with pytest.raises(CheckpointError, match="more than 100 levels deep"):
        torch.load(path)
    text = b'{"format": "tapeflow.checkpoint", "tree": ' + b"[" * 100_000 + b"]" * 100_000
    _zip(path, [(METADATA, text + b"}")])
    with pytest.raises(CheckpointError, match="not JSON .*RecursionError"):
        torch.load(path)
    nested: list[Any] = []
    nested.append(nested)  # a list that contains itself
    with pytest.raises(ValueError, match="more than 100 levels deep"):
        torch.save(nested, tmp_path / "cycle.pt")


def test_entries_must_match_the_table_and_its_checksums(tmp_path: Path):
    a, b = np.zeros(2, np.float32), np.ones(2, np.float32)
    rows = [_row("a", a), _row("b", b)]
    swapped = _zip(tmp_path / "swapped.pt", [(METADATA, _table(rows)), ("a.npy", _npy(b)),
                                             ("b.npy", _npy(a))])
    with pytest.raises(CheckpointError, match="'a' is damaged .*checksum") as info:
        read_checkpoint(swapped)
    assert info.value.key == "a"
    extra = _zip(tmp_path / "extra.pt", [(METADATA, _table(rows)), ("a.npy", _npy(a)),
                                         ("b.npy", _npy(b)), ("c.npy", _npy(b))])
    with pytest.raises(CheckpointError, match="do not match its table of contents .*'c.npy'"):
        read_checkpoint(extra)
    stray = _zip(tmp_path / "stray.npz", [("a.npy", _npy(a)), ("__tapeflow__.jsoN", b"{}")])
    with pytest.raises(CheckpointError, match="'__tapeflow__.jsoN' is not a .npy array"):
        read_checkpoint(stray)


def test_version_1_files_without_checksums_still_load(tmp_path: Path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    rows = [{"key": "fc.weight", "dtype": "float32", "shape": [2, 3]}]
    tree = {"dict": [["fc.weight", {"tensor": "fc.weight", "requires_grad": False,
                                    "parameter": False, "device": "cpu"}]]}
    path = _zip(tmp_path / "v1.pt", [(METADATA, _table(rows, tree, version=1)),
                                     ("fc.weight.npy", _npy(w))])
    np.testing.assert_array_equal(torch.load(path)["fc.weight"].numpy(), w)
    write_checkpoint(tmp_path / "v2.pt", {"w": w}, producer="test")
    assert read_checkpoint(tmp_path / "v2.pt").meta["version"] == 2
    with np.load(tmp_path / "v2.pt") as npz:  # still a plain .npz to numpy
        np.testing.assert_array_equal(npz["w"], w)


def test_an_entry_claiming_more_bytes_than_the_file_has_is_refused(tmp_path: Path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (2**29,)})  # 2 GiB of float32
    path = _zip(tmp_path / "claims.npz", [("w.npy", header.getvalue() + bytes(16))])
    data = bytearray(path.read_bytes())
    directory = data.rindex(b"PK\x01\x02")  # its sizes sit at +20 (stored) and +24 (full)
    claim = len(header.getvalue()) + 4 * 2**29
    data[directory + 20:directory + 28] = struct.pack("<II", claim, claim)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"gives it 2147483776 bytes, past the end of "
                                              r"the file"):
        read_checkpoint(path)
