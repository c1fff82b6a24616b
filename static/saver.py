"""``tf.train.Saver``: variables to and from the checkpoint format both modes share.

As in TF1, the Saver adds its restore ops to the graph when it is made: one placeholder and
one assign per variable (scope ``save/``), grouped as ``save/restore_all``. ``restore``
reads and checks the WHOLE file first (every key present, every shape and dtype right) and
only then runs ``restore_all`` once, so a bad file raises an error naming the parameters and
leaves every variable as it was (a Session commits a run's assigns only if the run succeeds).

Keys are the variables' op names (``w1``, ``dense/kernel``), or the keys of a dict
``var_list`` (``{"fc1.weight": w1}``), which is how a static graph reads a checkpoint written
by ``tapeflow.dynamic.save(model.state_dict(), path)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..runtime.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_file,
    read_checkpoint,
    select,
    write_checkpoint,
)
from .ops import group
from .sources import placeholder
from .tensor import Operation, Tensor
from .variables import Variable, global_variables

_PRODUCER = "tapeflow.static"
_STATE_FILE = "checkpoint"


def _keyed(var_list: Any) -> dict[str, Variable]:
    """``var_list`` as checkpoint key -> variable (op names for a list, as TF1 does)."""
    if var_list is None:
        var_list = global_variables()
    if isinstance(var_list, Mapping):
        items = list(var_list.items())
    elif isinstance(var_list, Sequence):
        items = [(v.op.name if isinstance(v, Variable) else "", v) for v in var_list]
    else:
        raise TypeError(f"Saver: var_list must be None, a list of Variables or a dict from "
                        f"checkpoint key to Variable, got {type(var_list).__name__}")
    keyed: dict[str, Variable] = {}
    for key, var in items:
        if not isinstance(var, Variable):
            raise TypeError(f"Saver: {var!r} (key {key!r}) is not a Variable; only variables "
                            "can be saved and restored")
        if not isinstance(key, str) or not key:
            raise TypeError(f"Saver: checkpoint keys must be non-empty strings, got {key!r}")
        if key in keyed:
            raise ValueError(f"At least two variables have the same name: {key}")
        keyed[key] = var
    return keyed


class Saver:
    """Saves and restores variables (TF1 ``tf.train.Saver``) in tapeflow's checkpoint format.

    Args:
        var_list: None (every global variable), a list of Variables (saved under their
            names), or a dict from checkpoint key to Variable.
        max_to_keep: how many recent checkpoints of this Saver to keep on disk (None or 0:
            all of them); older ones are deleted when a new one is saved.
        name: the name scope of the restore ops (default ``save``).
        allow_empty: whether a Saver with no variables is allowed.

    Example:
        >>> import os, tempfile, tapeflow.static as tf
        >>> path = os.path.join(tempfile.mkdtemp(), "model.ckpt")
        >>> with tf.Graph().as_default():
        ...     w = tf.Variable([1.0, 2.0], name="w")
        ...     saver = tf.train.Saver()
        ...     with tf.Session() as sess:
        ...         sess.run(tf.global_variables_initializer())
        ...         _ = saver.save(sess, path)
        ...         _ = sess.run(w.assign([0.0, 0.0]))
        ...         saver.restore(sess, path)
        ...         print(sess.run(w))
        [1. 2.]
    """

    def __init__(self, var_list: Any = None, max_to_keep: int | None = 5,
                 name: str | None = None, allow_empty: bool = False) -> None:
        self._vars = _keyed(var_list)
        self._max_to_keep = max_to_keep
        self._last_checkpoints: list[str] = []
        self._feeds: dict[str, Tensor] = {}
        self._restore_op: Operation | None = None
        if not self._vars:
            if not allow_empty:
                raise ValueError("No variables to save")
            return
        graph = next(iter(self._vars.values())).graph
        if any(v.graph is not graph for v in self._vars.values()):
            raise ValueError("Saver: every variable in var_list must belong to the same graph")
        with graph.as_default(), graph.name_scope(name or "save"):
            assigns = []
            for key, var in self._vars.items():
                value = placeholder(var.dtype, var.spec.shape, name="restore_value")
                self._feeds[key] = value
                assigns.append(var.assign(value))
            self._restore_op = group(*assigns, name="restore_all")

    @property
    def last_checkpoints(self) -> list[str]:
        """This Saver's checkpoints still on disk, oldest first."""
        return list(self._last_checkpoints)

    def save(self, sess: Any, save_path: str | os.PathLike[str], global_step: Any = None,
             latest_filename: str | None = None, write_meta_graph: bool = True,
             write_state: bool = True, strip_default_attrs: bool = False,
             save_debug_info: bool = False) -> str:
        """Writes the variables' current values to ``save_path`` (``-<step>`` appended when
        ``global_step`` is given) and returns the path written.

        ``write_meta_graph`` and the other TF1 switches are accepted; no meta graph is
        written (graphs are rebuilt from code). With ``write_state``, the directory's
        ``checkpoint`` file records it, so :func:`latest_checkpoint` finds it.
        """
        path = os.fspath(save_path)
        if global_step is not None:
            step = sess.run(global_step) if isinstance(global_step, Tensor) else global_step
            path = f"{path}-{int(step)}"
        keys = list(self._vars)
        values = sess.run([self._vars[k] for k in keys]) if keys else []
        write_checkpoint(path, {k: np.asarray(v) for k, v in zip(keys, values, strict=True)},
                         producer=_PRODUCER)
        if write_state:
            self._remember(path, latest_filename or _STATE_FILE)
        return path

    def restore(self, sess: Any, save_path: str | os.PathLike[str] | None) -> None:
        """Sets the variables to the values stored at ``save_path``, all or none.

        Raises:
            ValueError: ``save_path`` is None or holds no checkpoint.
            tapeflow.runtime.checkpoint.CheckpointError: a key is missing, a shape or dtype
                differs, or the file is truncated; the message names every such parameter,
                and no variable has changed.
        """
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        path = os.fspath(save_path)
        if not os.path.exists(path):
            raise ValueError(f"The passed save_path is not a valid checkpoint: {path}")
        if self._restore_op is None:
            return
        checkpoint = read_checkpoint(path)
        wanted = {key: (var.spec.shape, var.dtype) for key, var in self._vars.items()}
        arrays = select(checkpoint, wanted, "Saver.restore")
        sess.run(self._restore_op, {self._feeds[key]: arrays[key] for key in self._vars})

    def _remember(self, path: str, state_name: str) -> None:
        # The state file is replaced whole (an interrupt leaves the old one) and written
        # before old checkpoints are deleted, so it never names a file that is gone.
        kept = [p for p in self._last_checkpoints if p != path] + [path]
        dropped: list[str] = []
        if self._max_to_keep and len(kept) > self._max_to_keep:
            dropped, kept = kept[:-self._max_to_keep], kept[-self._max_to_keep:]
        directory = os.path.dirname(os.path.abspath(path))
        lines = [f'model_checkpoint_path: "{_relative(path, directory)}"']
        lines += [f'all_model_checkpoint_paths: "{_relative(p, directory)}"' for p in kept]
        with atomic_file(os.path.join(directory, state_name)) as handle:
            handle.write(("\n".join(lines) + "\n").encode("utf-8"))
        self._last_checkpoints = kept
        for old in dropped:
            if os.path.exists(old):
                os.remove(old)


def _relative(path: str, directory: str) -> str:
    absolute = os.path.abspath(path)
    return os.path.basename(absolute) if os.path.dirname(absolute) == directory else absolute


def latest_checkpoint(checkpoint_dir: str | os.PathLike[str],
                      latest_filename: str | None = None) -> str | None:
    """The newest checkpoint a Saver recorded in ``checkpoint_dir``, or None.

    Example:
        >>> import tempfile; latest_checkpoint(tempfile.mkdtemp()) is None
        True
    """
    directory = os.fspath(checkpoint_dir)
    state = os.path.join(directory, latest_filename or _STATE_FILE)
    if not os.path.exists(state):
        return None
    # (a damaged state file names no checkpoint: None, as TF1 ignores one it cannot parse)
    with open(state, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            field, _, value = line.partition(":")
            if field.strip() == "model_checkpoint_path":
                path = value.strip().strip('"')
                path = path if os.path.isabs(path) else os.path.join(directory, path)
                return path if os.path.exists(path) else None
    return None


def list_variables(ckpt_path: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """``(key, shape)`` for every tensor in a checkpoint file, sorted by key (TF1 order)."""
    checkpoint = _load(ckpt_path)
    return sorted((key, list(a.shape)) for key, a in checkpoint.tensors.items())


def load_variable(ckpt_path: str | os.PathLike[str], name: str) -> np.ndarray:
    """The value stored under ``name`` in a checkpoint file."""
    checkpoint = _load(ckpt_path)
    if name not in checkpoint.tensors:
        raise CheckpointError(f"Key {name} not found in checkpoint {checkpoint.path!r}",
                              key=name, path=checkpoint.path)
    return checkpoint.tensors[name]


def _load(ckpt_path: str | os.PathLike[str]) -> Checkpoint:
    path = os.fspath(ckpt_path)
    if os.path.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(f"no checkpoint recorded in directory {path!r}")
        path = found
    return read_checkpoint(path)


__all__ = ["Saver", "latest_checkpoint", "list_variables", "load_variable"]
