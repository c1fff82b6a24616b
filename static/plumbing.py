"""TF1 plumbing tutorial programs touch: ``tf.shape``, ``tf.ConfigProto`` / ``tf.GPUOptions``
(accepted by ``Session(config=...)``; tapeflow has no options behind them),
``tf.train.exponential_decay``, ``tf.layers.dropout``, and ``tf.summary`` as documented
no-ops (no event files are written: summaries become ops that do nothing, and a
``FileWriter`` accepts what it is given).

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, 3])
    ...     print(tf.Session(config=tf.ConfigProto(log_device_placement=True)).run(
    ...         tf.shape(x), {x: [[1, 2, 3]]}))
    [1 3]
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..runtime import dtypes as dt
from .ops import cast, multiply, pow, subtract, truediv  # noqa: A004
from .sources import call, convert_to_tensor
from .tensor import Tensor

__all__ = ["ConfigProto", "GPUOptions", "exponential_decay", "layers_dropout", "shape",
           "summary"]


def shape(input: Any, name: str | None = None, out_type: Any = dt.int32) -> Tensor:  # noqa: A002
    """The shape of ``input`` as a 1-D tensor, known at run time (for ``None`` dims)."""
    x = convert_to_tensor(input)
    return call("shape_of", [x], {"dtype": dt.as_dtype(out_type)}, name=name, type_="Shape")


class _Options(SimpleNamespace):
    """A TF1 options message: any field may be set; none changes how tapeflow runs."""

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        child = _Options()  # config.gpu_options.allow_growth = True works, as in TF1
        setattr(self, name, child)
        return child


class ConfigProto(_Options):
    """``tf.ConfigProto(allow_soft_placement=True, gpu_options=...)`` for ``Session``."""


class GPUOptions(_Options):
    """``tf.GPUOptions(allow_growth=True, per_process_gpu_memory_fraction=0.5)``."""


def exponential_decay(learning_rate: Any, global_step: Any, decay_steps: Any,
                      decay_rate: Any, staircase: bool = False,
                      name: str | None = None) -> Tensor:
    """``learning_rate * decay_rate ** (global_step / decay_steps)``, the exponent floored
    with ``staircase`` (a step counter is non-negative, so truncation is the floor)."""
    if global_step is None:
        raise ValueError("global_step is required for exponential_decay.")
    step = cast(global_step, dt.float32)
    exponent = truediv(step, float(decay_steps))
    if staircase:
        exponent = cast(cast(exponent, dt.int64), dt.float32)
    return multiply(learning_rate, pow(float(decay_rate), exponent), name=name)


def layers_dropout(inputs: Any, rate: float = 0.5, noise_shape: Any = None,
                   seed: int | None = None, training: Any = False,
                   name: str | None = None) -> Tensor:
    """``tf.layers.dropout``: drops with probability ``rate`` when ``training`` (a Python
    bool or a boolean tensor, as tutorials feed it), the identity otherwise."""
    from .nn import dropout

    if isinstance(training, bool):
        return dropout(inputs, rate=rate, seed=seed, name=name) if training \
            else convert_to_tensor(inputs)
    keep = subtract(1.0, multiply(float(rate), cast(training, dt.float32)))
    return dropout(inputs, keep_prob=keep, seed=seed, name=name)


def _no_op(*args: Any, **kwargs: Any) -> Any:
    from .ops import no_op

    return no_op()


class FileWriter:
    """Accepts summaries and graphs and writes nothing (no event files in tapeflow)."""

    def __init__(self, logdir: str, graph: Any = None, **kwargs: Any) -> None:
        self.logdir = logdir

    def add_summary(self, summary: Any, global_step: Any = None) -> None:
        """Nothing is written."""

    def add_graph(self, graph: Any, global_step: Any = None) -> None:
        """Nothing is written."""

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


summary = SimpleNamespace(scalar=_no_op, histogram=_no_op, image=_no_op, text=_no_op,
                          audio=_no_op, tensor_summary=_no_op, merge=_no_op,
                          merge_all=_no_op, FileWriter=FileWriter)
