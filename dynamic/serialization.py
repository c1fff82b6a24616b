"""``torch.save`` / ``torch.load`` over the checkpoint format both modes share.

``save(obj, path)`` stores every tensor of ``obj`` (a ``state_dict``, or a dict/list/tuple
nesting tensors, numpy arrays, numbers and strings, as training checkpoints do) as one
entry of a :mod:`tapeflow.runtime.checkpoint` file; the nesting itself goes into the file's
table of contents as JSON (no pickle: loading a file never runs code). A ``state_dict``'s
tensors are stored under their own names (``fc1.weight``), so a static ``tf.train.Saver``
can restore them by those keys, and a checkpoint a Saver wrote loads here as a flat
``OrderedDict`` of tensors.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..runtime import backend
from ..runtime.checkpoint import read_checkpoint, write_checkpoint
from ..runtime.checkpoint_table import MAX_DEPTH
from . import file_objects
from .device import CPU, as_device, is_available, move
from .dispatch import wrap
from .tensor import Tensor

_PRODUCER = "tapeflow.dynamic"
_SCALARS = (bool, int, float, str, type(None))


def _path(f: Any, what: str) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    raise TypeError(f"{what}: expected a file path (str or os.PathLike), got "
                    f"{type(f).__name__}; file objects are not supported")


def save(obj: Any, f: str | os.PathLike[str] | Any, pickle_module: Any = None,
         pickle_protocol: Any = None, _use_new_zipfile_serialization: bool = True) -> None:
    """Saves tensors (usually a ``state_dict``) to a checkpoint file.

    ``pickle_module``/``pickle_protocol`` are accepted for PyTorch compatibility and
    ignored: nothing is pickled.

    Example:
        >>> import os, tempfile, tapeflow.dynamic as torch
        >>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
        >>> torch.save({"w": torch.ones(2)}, path)
        >>> torch.load(path)["w"]
        tensor([1., 1.])
    """
    tensors: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", tensors)
    if not file_objects.is_path(f):  # an open file or BytesIO (dynamic/file_objects.py)
        with file_objects.writing(f, "save") as path:
            write_checkpoint(path, tensors, producer=_PRODUCER, tree=tree)
        return
    write_checkpoint(_path(f, "save"), tensors, producer=_PRODUCER, tree=tree)


def _entry_name(path: str, tensors: dict[str, np.ndarray]) -> str:
    name = path or "tensor"
    if name not in tensors:
        return name
    n = 1
    while f"{name}_{n}" in tensors:
        n += 1
    return f"{name}_{n}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _encode(obj: Any, path: str, tensors: dict[str, np.ndarray], depth: int = 0) -> Any:
    """The JSON form of ``obj``; its arrays go to ``tensors`` under their dotted path."""
    if depth > MAX_DEPTH:  # (a loader refuses deeper files; a cycle ends here too)
        raise ValueError(f"save: the object nests more than {MAX_DEPTH} levels deep at "
                         f"'{path}' (or contains itself)")
    if isinstance(obj, Tensor):
        from .nn.module import Parameter

        name = _entry_name(path, tensors)
        tensors[name] = np.asarray(backend.to_device(obj._array, "cpu"))
        return {"tensor": name, "requires_grad": obj.requires_grad,
                "parameter": isinstance(obj, Parameter), "device": obj.device.type}
    if isinstance(obj, np.ndarray):
        name = _entry_name(path, tensors)
        tensors[name] = obj
        return {"ndarray": name}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    if isinstance(obj, _SCALARS):
        return {"value": obj}
    if isinstance(obj, Mapping):
        kind = "ordered_dict" if isinstance(obj, OrderedDict) else "dict"
        items = []
        for key, value in obj.items():
            if not isinstance(key, _SCALARS):
                raise TypeError(f"save: cannot store the dict key {key!r} at '{path or '<root>'}'"
                                " (keys must be strings, numbers, bools or None)")
            items.append([key, _encode(value, _join(path, key), tensors, depth + 1)])
        return {kind: items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, _join(path, i), tensors, depth + 1)
                       for i, v in enumerate(obj)]}
    from .nn.module import Module

    hint = (" (save the module's state_dict() instead: tapeflow checkpoints hold data, never "
            "code)" if isinstance(obj, Module) else "")
    raise TypeError(f"save: cannot store a {type(obj).__name__} at '{path or '<root>'}': "
                    "tensors, numpy arrays, numbers, strings, None and lists, tuples and dicts "
                    f"of them can be saved{hint}")


def load(f: str | os.PathLike[str] | Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None, **pickle_load_args: Any
         ) -> Any:
    """Loads what :func:`save` stored (or a static ``tf.train.Saver`` checkpoint, as a flat
    ``OrderedDict`` of tensors). Tensors come back on the device they were saved from,
    unless ``map_location`` (a device, a device string, or a dict from saved to wanted
    device name) says otherwise.

    Raises:
        FileNotFoundError: no file at ``f``.
        tapeflow.runtime.checkpoint.CheckpointError: a truncated or damaged file; the
            message names the parameters it lacks.

    Example:
        >>> # model.load_state_dict(torch.load("model.pt", map_location="cpu"))
    """
    if file_objects.is_path(f):
        checkpoint = read_checkpoint(_path(f, "load"))
    else:  # an open file or BytesIO (dynamic/file_objects.py)
        with file_objects.reading(f, "load") as path:
            checkpoint = read_checkpoint(path)
    tree = checkpoint.meta.get("tree")
    if tree is None:  # a flat checkpoint (e.g. from tf.train.Saver): key -> tensor
        return OrderedDict((key, _tensor(array, "cpu", map_location))
                           for key, array in checkpoint.tensors.items())
    return _decode(tree, checkpoint.tensors, map_location)


def _target_device(saved: str, map_location: Any) -> Any:
    if map_location is None:
        wanted = saved
    elif isinstance(map_location, Mapping):
        wanted = map_location.get(saved, map_location.get(f"{saved}:0", saved))
    elif callable(map_location):
        raise TypeError("load: map_location as a function is not supported; pass a device, a "
                        "device name or a dict")
    else:
        wanted = map_location
    device = as_device(wanted)
    if device.type == "cuda" and not is_available():
        raise RuntimeError("Attempting to deserialize object on a CUDA device but "
                           "torch.cuda.is_available() is False. If you are running on a "
                           "CPU-only machine, please use torch.load with "
                           "map_location=torch.device('cpu') to map your storages to the CPU.")
    return device


def _tensor(array: np.ndarray, saved: str, map_location: Any) -> Tensor:
    device = _target_device(saved, map_location)
    tensor: Tensor = wrap(array if device == CPU else move(array, device))
    return tensor


def _decode(node: Any, arrays: dict[str, np.ndarray], map_location: Any) -> Any:
    if "tensor" in node:
        tensor = _tensor(arrays[node["tensor"]], node.get("device", "cpu"), map_location)
        if node.get("parameter"):
            from .nn.module import Parameter

            return Parameter(tensor, requires_grad=bool(node.get("requires_grad")))
        if node.get("requires_grad"):
            tensor.requires_grad_(True)
        return tensor
    ((kind, body),) = node.items()
    if kind == "ndarray":
        return arrays[body]
    if kind == "value":
        return body
    if kind in ("dict", "ordered_dict"):
        out = {} if kind == "dict" else OrderedDict()
        for key, value in body:
            out[key] = _decode(value, arrays, map_location)
        return out
    items = [_decode(v, arrays, map_location) for v in body]
    return items if kind == "list" else tuple(items)
