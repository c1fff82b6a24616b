"""The numerics check (``tf.debugging.enable_check_numerics``): name the first op that made NaN/Inf.

Opt in per session with ``tf.Session(options=tf.CompileOptions(check_numerics=True))``, or
for every session created afterwards with ``tf.debugging.enable_check_numerics()``. Such a
session runs each pruned graph with the compiler's interpreter (``compiler/interpreter.py``)
and its ``check_finite`` hook: node by node, on the same registry kernels, with every
floating value checked as soon as it is made. The first non-finite value raises
:class:`NumericsError` (an ``InvalidArgumentError``) naming the node, its op and the user's
line that built it, or the placeholder/variable that held the bad value. The check runs
before the session commits any assignment, so a failing training step changes no variable.

It costs a full pass over every value, and no memory planning is done: it is a debugging
mode, as TF's is.

Example:
    >>> import numpy as np, tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float64, [2], name="x")
    ...     y = tf.reduce_sum(tf.log(x), name="total")
    ...     sess = tf.Session(options=tf.CompileOptions(check_numerics=True))
    ...     try:
    ...         sess.run(y, {x: [1.0, -1.0]})
    ...     except tf.errors.InvalidArgumentError as exc:
    ...         print(exc.op_name)
    Log
"""

from __future__ import annotations

from .compiler.interpreter import NumericsError  # noqa: F401 - the error this check raises

_ENABLED = [False]


def enable_check_numerics() -> None:
    """Sessions created from now on check every value for NaN/Inf (TF2's spelling).

    Example:
        >>> enable_check_numerics(); is_check_numerics_enabled()
        True
        >>> disable_check_numerics()
    """
    _ENABLED[0] = True


def disable_check_numerics() -> None:
    """Sessions created from now on run without the check (the default)."""
    _ENABLED[0] = False


def is_check_numerics_enabled() -> bool:
    return _ENABLED[0]
