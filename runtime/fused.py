"""``fused``: one kernel call for a chain of elementwise ops, each run by its own kernel.

The static compiler's fusion pass (``static/compiler/fusion.py``) replaces a chain such as
``add(x @ w, b) -> sigmoid`` or an SGD update ``mul(g, lr) -> sub(w, .)`` by one node of
this op. Its attribute ``steps`` lists the chain: per step the member op's name, where its
operands come from (an index into the fused node's inputs, or ``-1``: the value of the step
before) and its attributes as ``(key, value)`` pairs. Nothing here knows any member's math:
the kernel runs each member's registered kernel in turn, and every step writes into the one
output buffer, which the next step reads (the pass fuses only where the member's kernel may
take its output as that operand). So a fused node computes exactly what its members did,
bit for bit, with one buffer where the chain had one per member.

The op has no gradient: the compiler fuses graphs whose gradients were already built.

Example:
    >>> import numpy as np
    >>> from tapeflow.runtime import get
    >>> steps = (("add", (0, 1), ()), ("sigmoid", (-1,), ()))
    >>> get("fused").kernel(np, np.zeros(2), np.zeros(2), steps=steps).tolist()
    [0.5, 0.5]
"""

from __future__ import annotations

from typing import Any

from .registry import REGISTRY, Spec, register

#: an operand that is the value of the step before (in the output buffer)
PREVIOUS = -1


def member_ops(steps: tuple[Any, ...]) -> tuple[str, ...]:
    """The op names of a fused node's ``steps``, in order."""
    return tuple(name for name, _, _ in steps)


def _fused(xp: Any, *inputs: Any, out: Any = None, steps: tuple[Any, ...] = (),
           ops: str = "") -> Any:
    # each member's own kernel; the first without out= allocates and the rest write there
    value = None
    for name, refs, attrs in steps:
        args = [value if r == PREVIOUS else inputs[r] for r in refs]
        value = REGISTRY[name].kernel(xp, *args, out=out, **dict(attrs))
        out = value
    return value


def _infer(*specs: Spec, steps: tuple[Any, ...] = (), ops: str = "") -> Spec:
    # each member's own shape rule, fed the spec of the step before
    value: Spec | None = None
    for name, refs, attrs in steps:
        value = REGISTRY[name].infer(*[value if r == PREVIOUS else specs[r] for r in refs],
                                     **dict(attrs))
    assert value is not None, "a fused node has at least one step"
    return value


register(
    "fused",
    kernel=_fused,
    infer=_infer,
    arity=None,
    doc="a chain of elementwise ops run by their own kernels into one buffer "
        "(attribute ops names them; made by the static compiler's fusion pass)",
)
