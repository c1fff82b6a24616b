"""Evaluation on raw arrays: an op run at once on numpy (or cupy) arrays and Python numbers.

``runtime.R`` calls land here when no front end owns an argument (a gradient rule running
on arrays, a test): :func:`evaluate` promotes dtypes, turns scalars into arrays and raises
errors that name the op and the shapes; where every array shares one float dtype there is
nothing to promote, and ``R`` calls the kernel at once (registry.py).

Example:
    >>> import numpy as np
    >>> from tapeflow.runtime import get
    >>> evaluate(get("add"), [np.ones(2, np.float32), 1], {}).tolist()
    [2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import dtypes as dt
from .backend import array_module
from .registry import OpDef, ShapeError, Spec, format_shape


def operand_dtype(
    op: OpDef, dtypes: Sequence[dt.DType | None], scalars: Sequence[Any]
) -> dt.DType | None:
    """The dtype the promoted inputs of ``op`` are cast to (None: the op does not promote).

    ``dtypes`` has one entry per input, ``None`` where that input is a Python scalar.
    """
    if op.promote is None:
        return None
    indices = op.promote_inputs if op.promote_inputs is not None else range(len(dtypes))
    present = [(dtypes[i], i) for i in indices if i < len(dtypes)]
    tensor_dtypes = [d for d, _ in present if d is not None]
    scalar_values = [scalars[i] for d, i in present if d is None]
    if tensor_dtypes:
        common = tensor_dtypes[0]
        for d in tensor_dtypes[1:]:
            common = dt.promote(common, d)
        for s in scalar_values:
            common = dt.with_scalar(common, s)
    else:
        common = dt.infer_from_data(scalar_values[0]) if scalar_values else dt.DEFAULT_FLOAT
    if op.promote == "float" and not common.is_floating:
        common = dt.DEFAULT_FLOAT
    return common


def prepare_arrays(op: OpDef, args: Sequence[Any], xp: Any) -> list[Any]:
    """Casts promoted inputs to their common dtype and turns Python scalars into 0-d arrays."""
    dtypes = [None if _is_scalar(a) else dt.of_array(a) for a in args]
    common = operand_dtype(op, dtypes, args)
    indices = set(op.promote_inputs if op.promote_inputs is not None else range(len(args)))
    arrays = []
    for i, (a, d) in enumerate(zip(args, dtypes, strict=True)):
        if d is None:
            target = common if (common is not None and i in indices) else dt.infer_from_data(a)
            arrays.append(xp.asarray(a, dtype=target.np))
        elif common is not None and i in indices and d is not common:
            arrays.append(a.astype(common.np))
        else:
            arrays.append(a)
    return arrays


def evaluate(op: OpDef, args: Sequence[Any], attrs: dict[str, Any], out: Any = None) -> Any:
    """Runs ``op`` on arrays (numpy or cupy) and Python scalars; errors name the op and shapes."""
    # numpy scalars (np.float64(1.0), results of 0-d reductions) are arrays, not weak scalars
    args = [np.asarray(a) if isinstance(a, np.generic) else a for a in args]
    first = next((a for a in args if not _is_scalar(a)), None)
    xp = array_module(first) if first is not None else _default_xp()
    arrays = prepare_arrays(op, args, xp)
    try:
        if out is not None:
            return op.kernel(xp, *arrays, out=out, **attrs)
        result = op.kernel(xp, *arrays, **attrs)
        # numpy ufuncs return scalars for 0-d inputs; keep everything an array
        return xp.asarray(result) if isinstance(result, np.generic) else result
    except (ValueError, IndexError, TypeError) as exc:
        raise shape_error(
            op, [Spec(tuple(a.shape), dt.of_array(a)) for a in arrays], attrs, exc
        ) from None


def shape_error(
    op: OpDef, specs: Sequence[Spec], attrs: dict[str, Any], cause: Exception | None = None
) -> Exception:
    """A ShapeError naming the op and its input shapes, preferring the shape rule's own words."""
    try:
        op.infer(*specs, **attrs)
    except ShapeError as exc:
        return exc
    except Exception:  # noqa: BLE001 - fall through to the kernel's own message
        pass
    shown = ", ".join(format_shape(s.shape) for s in specs)
    detail = f": {cause}" if cause is not None else ""
    return ShapeError(f"{op.name}: cannot apply to inputs of shapes {shown}{detail}")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, bool))


def _default_xp() -> Any:
    return np
