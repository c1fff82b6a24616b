"""``Saver.save`` interrupted at every line: the ``checkpoint`` state file is all or nothing.

Issue 18, item 7: a KeyboardInterrupt during ``Saver.save`` could leave the state file
empty, so ``latest_checkpoint`` returned None though model-1 and model-2 existed. Here a
trace function raises KeyboardInterrupt at the n-th line the Saver and the checkpoint
writer execute, for every n in turn (deterministic, no timing), and after each interrupt
the newest recorded checkpoint must exist and load.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.runtime import checkpoint as checkpoint_module
from tapeflow.static import saver as saver_module

_WATCHED = {os.path.abspath(m.__file__ or "") for m in (checkpoint_module, saver_module)}


class _InterruptAt:
    """A tracer that raises KeyboardInterrupt at the ``at``-th line run in the watched files
    (never, when ``at`` is None: then it only counts)."""

    def __init__(self, at: int | None) -> None:
        self.at, self.lines = at, 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call":
            return self if os.path.abspath(frame.f_code.co_filename) in _WATCHED else None
        if event == "line":
            self.lines += 1
            if self.lines == self.at:
                raise KeyboardInterrupt(f"injected at line {self.lines}")
        return self


def _run_traced(tracer: _InterruptAt, fn: Any) -> None:
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)


# (an interrupt inside the writer's own clean-up handler leaves the zip object it abandons
# to the garbage collector, which then reports that the file under it is closed)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupted_save_leaves_a_state_file_that_names_a_loadable_checkpoint(
        tmp_path: Path) -> None:
    with tf.Graph().as_default():
        tf.Variable(np.arange(4, dtype=np.float32), name="w")
        saver = tf.train.Saver(max_to_keep=2)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            prefix = str(tmp_path / "model")
            saver.save(sess, prefix, global_step=1)
            saver.save(sess, prefix, global_step=2)
            interrupted = 0
            for at in range(1, 10_000):  # until a save runs to its end
                try:
                    _run_traced(_InterruptAt(at), lambda: saver.save(sess, prefix,
                                                                     global_step=3))
                except KeyboardInterrupt:
                    interrupted += 1
                else:
                    break
                latest = tf.train.latest_checkpoint(str(tmp_path))
                assert latest in (f"{prefix}-2", f"{prefix}-3"), (at, latest)
                np.testing.assert_array_equal(tf.train.load_variable(latest, "w"),
                                              np.arange(4))
            assert interrupted > 20  # the tracer saw (and broke) every line of the save
            assert tf.train.latest_checkpoint(str(tmp_path)) == f"{prefix}-3"
            # an interrupt that lands inside a clean-up handler itself can leave a hidden
            # temporary file (never read); a save that completes leaves none
            before = _temporaries(tmp_path)
            saver.save(sess, prefix, global_step=4)
            assert tf.train.latest_checkpoint(str(tmp_path)) == f"{prefix}-4"
            assert _temporaries(tmp_path) == before


def _temporaries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(".tmp")}


def test_a_damaged_state_file_names_no_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_bytes(b"\xff\xfe model_checkpoint_path \x00")
    assert tf.train.latest_checkpoint(str(tmp_path)) is None
