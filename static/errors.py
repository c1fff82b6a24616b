"""TF1-style run-time errors (``tf.errors``): what a ``Session.run`` raises.

Build-time mistakes (a shape mismatch, a bad argument) raise ``ValueError``/``TypeError`` at
the line that built the op, as TF1 does; these classes are for problems found when running.
"""

from __future__ import annotations


class OpError(Exception):
    """A failure while running a graph; ``op_name`` names the node involved (when one is).

    Example:
        >>> str(OpError("bad value", op_name="MatMul"))
        'bad value'
    """

    def __init__(self, message: str, op_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.op_name = op_name


class InvalidArgumentError(OpError):
    """A feed is missing or a kernel rejected its inputs at run time."""


class FailedPreconditionError(OpError):
    """A run read a variable that this session has not initialised."""


class ResourceExhaustedError(OpError):
    """A run would need more memory than allowed (a tensor above ``MAX_TENSOR_BYTES``)."""
