"""Elementwise ops: arithmetic, comparisons, unary math, where, cast.

Each kernel serves numpy and cupy alike and writes into ``out`` when given.
Gradients come back in the broadcast shape; the engines sum them to each input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes as dt
from .registry import R, Spec, register
from .shapes import broadcast
from .weak_scalars import one_and_half


def _binary_infer(name: str, result: str = "promote"):
    def infer(x: Spec, y: Spec) -> Spec:
        shape = broadcast(name, x.shape, y.shape)
        common = dt.promote(x.dtype, y.dtype)
        if result == "bool":
            return Spec(shape, dt.bool_)
        if result == "float" and not common.is_floating:
            common = dt.DEFAULT_FLOAT
        return Spec(shape, common)

    return infer


def _unary_infer(result: str = "same"):
    def infer(x: Spec, **_: Any) -> Spec:
        if result == "float" and not x.dtype.is_floating:
            return Spec(x.shape, dt.DEFAULT_FLOAT)
        return Spec(x.shape, x.dtype)

    return infer


def _binary(name: str, ufunc: str, vjp: Any, result: str = "promote", saves: Any = ()) -> None:
    def kernel(xp: Any, x: Any, y: Any, out: Any = None) -> Any:
        return getattr(xp, ufunc)(x, y, out=out)

    register(
        name,
        kernel=kernel,
        infer=_binary_infer(name, result),
        vjp=vjp,
        saves=saves,
        arity=2,
        inplace=result != "bool",
        promote="float" if result == "float" else "same",
        doc=f"elementwise {ufunc}, numpy broadcasting",
        # the kernel is exactly this ufunc of xp: a hot loop may call it directly
        ufunc=ufunc,
    )


# d(x+y) = (g, g); d(x-y) = (g, -g); d(x*y) = (g*y, g*x); d(x/y) = (g/y, -g*x/y^2)
_binary("add", "add", [lambda g, ans, x, y: g, lambda g, ans, x, y: g])
_binary("sub", "subtract", [lambda g, ans, x, y: g, lambda g, ans, x, y: R.neg(g)])
_binary("mul", "multiply", [lambda g, ans, x, y: R.mul(g, y), lambda g, ans, x, y: R.mul(g, x)],
        saves=[("y",), ("x",)])
_binary(
    "div",
    "true_divide",
    [lambda g, ans, x, y: R.div(g, y), lambda g, ans, x, y: R.neg(R.div(R.mul(g, ans), y))],
    result="float",
    saves=[("y",), ("ans", "y")],
)


def _pow_grad_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # a number exponent (x ** 2) stays a number: R.sub on two numbers would evaluate to a
    # host (numpy) array, which a cupy x cannot be raised to; a weak scalar goes anywhere.
    # x ** 2 (a loss) needs no pow kernel: x^1 is x exactly, so the products keep their bits
    less = y - 1 if isinstance(y, (int, float, np.generic)) else R.sub(y, 1)
    power = x if type(less) in (int, float) and less == 1 else R.pow(x, less)
    return R.mul(g, R.mul(y, power))


# d x^y = (g * y * x^(y-1), g * x^y * log x)
_binary("pow", "power", [_pow_grad_x, lambda g, ans, x, y: R.mul(g, R.mul(ans, R.log(x)))],
        saves=[("x", "y"), ("ans", "x")])
# the gradient goes to the larger (smaller) input; ties go to the first input
_binary(
    "maximum",
    "maximum",
    [
        lambda g, ans, x, y: R.where(R.ge(x, y), g, 0),
        lambda g, ans, x, y: R.where(R.ge(x, y), 0, g),
    ],
    saves=("x", "y"),
)
_binary(
    "minimum",
    "minimum",
    [
        lambda g, ans, x, y: R.where(R.le(x, y), g, 0),
        lambda g, ans, x, y: R.where(R.le(x, y), 0, g),
    ],
    saves=("x", "y"),
)

for _name, _ufunc in [
    ("eq", "equal"),
    ("ne", "not_equal"),
    ("lt", "less"),
    ("le", "less_equal"),
    ("gt", "greater"),
    ("ge", "greater_equal"),
]:
    _binary(_name, _ufunc, None, result="bool")

for _name, _ufunc in [("logical_and", "logical_and"), ("logical_or", "logical_or")]:
    register(
        _name,
        kernel=(lambda u: lambda xp, x, y, out=None: getattr(xp, u)(x, y, out=out))(_ufunc),
        infer=_binary_infer(_name, "bool"),
        arity=2,
        doc=f"elementwise {_ufunc}",
    )
register(
    "logical_not",
    kernel=lambda xp, x, out=None: xp.logical_not(x, out=out),
    infer=lambda x: Spec(x.shape, dt.bool_),
    doc="elementwise not",
)


def _unary(name: str, kernel: Any, vjp: Any, result: str = "same", doc: str = "",
           saves: tuple[str, ...] = ()) -> None:
    register(
        name,
        kernel=kernel,
        infer=_unary_infer(result),
        vjp=[vjp] if vjp else None,
        saves=saves if vjp else None,
        inplace=True,
        promote="float" if result == "float" else None,
        doc=doc,
    )


def _sigmoid(xp: Any, x: Any, out: Any = None) -> Any:
    # sigmoid(x) = (1 + tanh(x/2)) / 2: no overflow for large |x|, and no temporaries
    one, half = one_and_half(x) if out is None else (1, 0.5)
    if out is None and x.ndim:
        out = xp.multiply(x, half)  # one call fewer: the product allocates the result
    else:  # (a 0-d product would be a scalar, which takes no out=)
        out = xp.empty_like(x) if out is None else out
        xp.multiply(x, half, out=out)
    xp.tanh(out, out=out)
    out += one
    out *= half
    return out


def _relu(xp: Any, x: Any, out: Any = None) -> Any:
    return xp.maximum(x, 0, out=out) if out is not None else xp.maximum(x, x.dtype.type(0))


_unary(
    "neg",
    lambda xp, x, out=None: xp.negative(x, out=out),
    lambda g, ans, x: R.neg(g),
    doc="-x; d = -g",
)
_unary(
    "exp",
    lambda xp, x, out=None: xp.exp(x, out=out),
    lambda g, ans, x: R.mul(g, ans),
    "float",
    "e^x; d = g * e^x",
    saves=("ans",),
)
_unary(
    "log",
    lambda xp, x, out=None: xp.log(x, out=out),
    lambda g, ans, x: R.div(g, x),
    "float",
    "ln x; d = g / x",
    saves=("x",),
)
_unary(
    "sqrt",
    lambda xp, x, out=None: xp.sqrt(x, out=out),
    lambda g, ans, x: R.div(g, R.mul(ans, 2.0)),
    "float",
    "sqrt x; d = g / (2 sqrt x)",
    saves=("ans",),
)
_unary(
    "abs",
    lambda xp, x, out=None: xp.abs(x, out=out),
    lambda g, ans, x: R.where(R.ge(x, 0), g, R.neg(g)),
    doc="|x|; d = g * sign(x)",
    saves=("x",),
)
_unary(
    "sigmoid",
    _sigmoid,
    lambda g, ans, x: R.sigmoid_grad(g, ans),
    "float",
    "1 / (1 + e^-x); d = sigmoid_grad(g, s) = g * s * (1 - s)",
    saves=("ans",),
)
_unary(
    "tanh",
    lambda xp, x, out=None: xp.tanh(x, out=out),
    lambda g, ans, x: R.tanh_grad(g, ans),
    "float",
    "tanh x; d = tanh_grad(g, t) = g (1 - t^2)",
    saves=("ans",),
)


# The gradients of tanh and sigmoid given their outputs, as one op each (TF's TanhGrad and
# SigmoidGrad): one kernel call, one node and one buffer where the rule written with mul and
# sub took three. The kernels run the same three ufuncs in the same order as that rule, so
# values are unchanged bit for bit. Not in place: input 0 (g) is read after out is written.


def _tanh_grad(xp: Any, g: Any, t: Any, out: Any = None) -> Any:
    if out is None:
        return g * (one_and_half(t)[0] - t * t)
    xp.multiply(t, t, out=out)
    xp.subtract(1.0, out, out=out)
    return xp.multiply(g, out, out=out)


def _sigmoid_grad(xp: Any, g: Any, s: Any, out: Any = None) -> Any:
    if out is None:
        return g * (s * (one_and_half(s)[0] - s))
    xp.subtract(1.0, s, out=out)
    xp.multiply(s, out, out=out)
    return xp.multiply(g, out, out=out)


register(
    "tanh_grad",
    kernel=_tanh_grad,
    infer=_binary_infer("tanh_grad", "promote"),
    vjp=[lambda gg, ans, g, t: R.tanh_grad(gg, t),
         lambda gg, ans, g, t: R.mul(R.mul(gg, g), R.mul(-2.0, t))],
    saves=[("t",), ("g", "t")],
    arity=2,
    promote="same",
    doc="g (1 - t^2): the gradient of tanh at output t; d = (gg (1 - t^2), -2 gg g t)",
)
register(
    "sigmoid_grad",
    kernel=_sigmoid_grad,
    infer=_binary_infer("sigmoid_grad", "promote"),
    vjp=[lambda gg, ans, g, s: R.sigmoid_grad(gg, s),
         lambda gg, ans, g, s: R.mul(R.mul(gg, g), R.sub(1.0, R.mul(2.0, s)))],
    saves=[("s",), ("g", "s")],
    arity=2,
    promote="same",
    doc="g s (1 - s): the gradient of sigmoid at output s; d = (gg s (1 - s), gg g (1 - 2s))",
)
_unary(
    "log1p",
    lambda xp, x, out=None: xp.log1p(x, out=out),
    lambda g, ans, x: R.div(g, R.add(x, 1.0)),
    "float",
    "log(1 + x), exact for tiny x; d = g / (1 + x)",
    saves=("x",),
)
_unary(
    "expm1",
    lambda xp, x, out=None: xp.expm1(x, out=out),
    lambda g, ans, x: R.mul(g, R.add(ans, 1.0)),
    "float",
    "e^x - 1, exact for tiny x; d = g e^x",
    saves=("ans",),
)
_unary(
    "sin",
    lambda xp, x, out=None: xp.sin(x, out=out),
    lambda g, ans, x: R.mul(g, R.cos(x)),
    "float",
    "sin x; d = g cos x",
    saves=("x",),
)
_unary(
    "cos",
    lambda xp, x, out=None: xp.cos(x, out=out),
    lambda g, ans, x: R.neg(R.mul(g, R.sin(x))),
    "float",
    "cos x; d = -g sin x",
    saves=("x",),
)
_unary("relu", _relu, lambda g, ans, x: R.where(R.gt(x, 0), g, 0), doc="max(x, 0); d = g [x > 0]",
       saves=("x",))
_unary("sign", lambda xp, x, out=None: xp.sign(x, out=out), None, doc="sign of x")
_unary(
    "identity",
    lambda xp, x, out=None: x if out is None else xp.copyto(out, x) or out,
    lambda g, ans, x: g,
    doc="x (no copy); d = g",
)
_unary(
    "copy",
    lambda xp, x, out=None: (xp.array(x, copy=True, order="C") if out is None
                             else (xp.copyto(out, x) or out)),
    lambda g, ans, x: g,
    doc="a row-major (C-contiguous) copy of x; d = g",
)
_unary(
    "stop_gradient",
    lambda xp, x, out=None: x if out is None else (xp.copyto(out, x) or out),
    None,
    doc="x, through which no gradient flows",
)


def _clamp_dtype(x: dt.DType, min: Any, max: Any) -> dt.DType:  # noqa: A002
    # bounds promote like Python scalars (PyTorch): an int tensor clamped to 0.5 is float32
    for bound in (min, max):
        if bound is not None:
            x = dt.with_scalar(x, bound)
    return x


def _clamp(xp: Any, x: Any, out: Any = None, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    target = _clamp_dtype(dt.of_array(x), min, max)
    if target.np != x.dtype:
        x = x.astype(target.np)
    return xp.clip(x, min, max, out=out)


def _clamp_vjp(g: Any, ans: Any, x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    # d clamp(x) = g where min <= x <= max, else 0
    if min is not None:
        g = R.where(R.ge(x, min), g, 0)
    if max is not None:
        g = R.where(R.le(x, max), g, 0)
    return g


register(
    "clamp",
    kernel=_clamp,
    infer=lambda x, min=None, max=None: Spec(x.shape, _clamp_dtype(x.dtype, min, max)),
    vjp=[_clamp_vjp],
    saves=("x",),
    inplace=True,
    doc="min(max(x, min), max)",
)


def _cast(xp: Any, x: Any, out: Any = None, dtype: dt.DType = dt.float32) -> Any:
    if out is not None:
        xp.copyto(out, x, casting="unsafe")
        return out
    return x.astype(dt.as_dtype(dtype).np)


register(
    "cast",
    kernel=_cast,
    infer=lambda x, dtype: Spec(x.shape, dt.as_dtype(dtype)),
    vjp=[lambda g, ans, x, dtype: R.cast(g, dtype=dt.as_dtype(x.dtype))],
    saves=(),
    doc="x converted to dtype; d = g converted back",
)


def _where(xp: Any, cond: Any, x: Any, y: Any, out: Any = None) -> Any:
    if out is None:
        return xp.where(cond, x, y)
    xp.copyto(out, y)
    # (copyto broadcasts both x and the mask to out: two broadcast_to calls cost 6x the copy)
    xp.copyto(out, x, where=cond)
    return out


def _where_infer(cond: Spec, x: Spec, y: Spec) -> Spec:
    return Spec(broadcast("where", cond.shape, x.shape, y.shape), dt.promote(x.dtype, y.dtype))


register(
    "where",
    kernel=_where,
    infer=_where_infer,
    arity=3,
    promote="same",
    promote_inputs=(1, 2),
    vjp=[None, lambda g, ans, c, x, y: R.where(c, g, 0), lambda g, ans, c, x, y: R.where(c, 0, g)],
    saves=("c",),
    doc="x where cond else y",
)
