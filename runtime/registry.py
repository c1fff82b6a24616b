"""The op registry: every op's kernel, shape/dtype rule and gradient rule, in one place.

An op is registered once, with

* ``kernel(xp, *arrays, out=None, **attrs)``: computes on the array module ``xp``
  (numpy or cupy); writes into ``out`` when given (a planned buffer), else allocates;
* ``infer(*specs, **attrs) -> Spec``: the output shape and dtype. Shapes may hold
  ``None`` (unknown at graph-build time) or be ``None`` altogether (unknown rank);
* ``vjp``: the vector-Jacobian product, written with registered ops through the
  namespace :data:`R`, so one rule builds graph nodes in static mode and computes
  arrays in dynamic mode. Either one callable per input,
  ``(g, ans, *inputs, **attrs) -> grad`` (``None`` for an input with no gradient),
  or for variadic ops one callable returning a tuple with a slot per input;
* ``saves``: what each rule reads the *data* of (``"ans"`` or an input's parameter name),
  so a tape keeps only those values alive and checks only their versions (PyTorch's
  ``save_for_backward``); a value read only for its shape or dtype is not listed.
  ``tests/runtime/test_saves.py`` runs every rule with the unlisted values replaced by
  stand-ins that have no data, so a wrong declaration fails.

Rules return the gradient in the *broadcast* shape; the backward engines (static and
dynamic) sum it to the input's shape with the registered ``sum_to`` op, in one place.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dtypes as dt
from .backend import array_module
from .blas import RAW as _RAW
from .weak_scalars import NO_SCALARS, WEAK, weak

Shape = tuple[int | None, ...] | None


class ShapeError(ValueError):
    """An op was given inputs whose shapes it cannot combine. Names the op and the shapes."""


class OpNotFoundError(KeyError):
    """An op name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Spec:
    """What is known about a value without its data: shape (``None`` dims allowed) and dtype."""

    shape: Shape
    dtype: dt.DType

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_fully_known(self) -> bool:
        return self.shape is not None and all(d is not None for d in self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.name}{format_shape(self.shape)}"


def format_shape(shape: Shape) -> str:
    if shape is None:
        return "<unknown>"
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({dims}{',' if len(shape) == 1 else ''})"


@dataclass(frozen=True)
class OpDef:
    """One registry entry. Built by :func:`register`; read by both front ends and the compiler."""

    name: str
    kernel: Callable[..., Any]
    infer: Callable[..., Spec]
    vjps: tuple[Callable[..., Any] | None, ...] | Callable[..., tuple[Any, ...]] | None
    arity: int | None  # None: variadic (concat, stack)
    kind: str  # elementwise | reduce | view | linalg | index | nn | create | random
    view: bool = False  # the output aliases input 0's memory
    inplace: bool = False  # kernel(x, ..., out=x) is safe: may overwrite input 0
    promote: str | None = None  # "same": cast inputs to a common dtype; "float": and lift to float
    promote_inputs: tuple[int, ...] | None = None  # which inputs take part (None: all)
    shape_only: tuple[int, ...] = ()  # inputs read only for their shape, never their data
    doc: str = ""
    # per gradient rule (one for a variadic op), the names whose data it reads: "ans" or an
    # entry of ``inputs`` (the rules' parameter names; a variadic op's is its *args name)
    saves: tuple[tuple[str, ...], ...] = ()
    inputs: tuple[str, ...] = ()
    # Fast paths: the kernel is exactly one numpy/cupy callable, so a hot loop (the eager
    # dispatcher, the compiled executor) may call that callable without the kernel's frame.
    ufunc: str | None = None  # xp.<ufunc>(*inputs), unless an attribute in ufunc_unless is set
    ufunc_unless: tuple[str, ...] = ()
    reduce_ufunc: str | None = None  # xp.<reduce_ufunc>.reduce(x, axis, None, out, keepdims)
    reduce_kinds: str = ""  # ... for input dtypes of these numpy kinds only
    method: str | None = None  # x.<method>(attr value): reshape, transpose
    # the kernel takes ``provider=``, the GEMM library of a call (runtime/blas.py): the front
    # ends hand it the thread's choice (backends.blas.set_provider; RAW on raw arrays)
    gemm: bool = False
    # why the kernel takes a path of its own on cupy ("": one body serves numpy and cupy);
    # tests/runtime/test_cupy_namespace.py requires it of a kernel that branches on xp
    cupy: str = ""

    @property
    def differentiable(self) -> bool:
        return self.vjps is not None

    def vjp(
        self, g: Any, ans: Any, inputs: Sequence[Any], attrs: dict[str, Any], needed: Sequence[bool]
    ) -> tuple[Any, ...]:
        """The gradient for each input that ``needed`` asks for (``None`` elsewhere)."""
        rules = self.vjps
        if rules is None:
            raise TypeError(f"op '{self.name}' is not differentiable")
        if callable(rules):  # one callable for every input (variadic ops)
            grads = rules(g, ans, *inputs, **attrs)
            return tuple(gr if need else None for gr, need in zip(grads, needed, strict=True))
        return tuple(rule(g, ans, *inputs, **attrs) if need and rule is not None else None
                     for rule, need in zip(rules, needed, strict=True))

    def saved_for(self, needed: Sequence[bool]) -> tuple[bool, tuple[bool, ...]]:
        """What the rules of the ``needed`` inputs read: the output, and each input's data.

        Mirrors PyTorch, which saves only what the requested derivatives use (``y = x * 2;
        y += 1`` is fine, ``y = x.sigmoid(); y += 1`` is not).

        Example:
            >>> from tapeflow.runtime import get
            >>> get("mul").saved_for((True, False)), get("exp").saved_for((True,))
            ((False, (False, True)), (True, (False,)))
        """
        if not self.saves:  # an OpDef made without register() declares nothing: keep all
            return True, tuple(i not in self.shape_only for i in range(len(needed)))
        ans, reads = False, [False] * len(needed)
        for i, need in enumerate(needed):
            if not need:
                continue
            for name in self.saves[0 if callable(self.vjps) else i]:
                if name == "ans":
                    ans = True
                elif name.startswith("*"):
                    reads = [True] * len(needed)
                else:
                    reads[self.inputs.index(name)] = True
        return ans, tuple(r and i not in self.shape_only for i, r in enumerate(reads))

    def has_gradient_for(self, index: int) -> bool:
        if self.vjps is None:
            return False
        if callable(self.vjps):
            return index not in self.shape_only
        return index < len(self.vjps) and self.vjps[index] is not None

    def __repr__(self) -> str:
        return f"<op {self.name} ({self.kind})>"


REGISTRY: dict[str, OpDef] = {}


def register(
    name: str,
    *,
    kernel: Callable[..., Any],
    infer: Callable[..., Spec],
    vjp: Any = None,
    arity: int | None = 1,
    kind: str = "elementwise",
    saves: Any = None,
    **options: Any,
) -> OpDef:
    """Adds one op to the registry (once: a second definition of a name is an error).

    ``saves`` declares what the gradient rules read (required with ``vjp``): one tuple of
    names for every rule, or a list with one tuple per rule.
    """
    if name in REGISTRY:
        raise ValueError(f"op '{name}' is already registered: one definition per op")
    if isinstance(vjp, list):
        vjp = tuple(vjp)
    if isinstance(vjp, tuple) and arity is not None and len(vjp) != arity:
        raise ValueError(f"op '{name}': {len(vjp)} vjp rules for {arity} inputs")
    inputs, per_rule = _declared_saves(name, vjp, saves, arity) if vjp is not None else ((), ())
    op = OpDef(name=name, kernel=kernel, infer=infer, vjps=vjp, arity=arity, kind=kind,
               saves=per_rule, inputs=inputs, **options)
    REGISTRY[name] = op
    return op


def _declared_saves(
    name: str, vjp: Any, saves: Any, arity: int | None
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The rules' input names and ``saves`` as one tuple of names per rule, checked."""
    rules = [vjp] if callable(vjp) else list(vjp)
    if saves is None:
        raise ValueError(f"op '{name}': declare what its gradient rules read, e.g. "
                         "saves=('x',), ('ans',) or () (see runtime/registry.py)")
    if all(isinstance(s, str) for s in saves):
        saves = [tuple(saves)] * len(rules)
    if len(saves) != len(rules):
        raise ValueError(f"op '{name}': saves has {len(saves)} entries for {len(rules)} rules")
    per_rule = tuple(() if rule is None else tuple(s) for rule, s in zip(rules, saves, strict=True))
    params = inspect.signature(next(r for r in rules if r is not None)).parameters.values()
    variadic = [p.name for p in params if p.kind is p.VAR_POSITIONAL]
    inputs = (f"*{variadic[0]}",) if variadic else tuple(p.name for p in list(params)[2:2 + arity])
    known = {"ans", *inputs, *(v for v in variadic)}
    for names in per_rule:
        for n in names:
            if n not in known:
                raise ValueError(f"op '{name}': saves names {n!r}, which is not 'ans' or one of "
                                 f"the rule's inputs {inputs}")
    if variadic:  # the *args name, as written in saves, stands for every input
        per_rule = tuple(tuple(f"*{n}" if n == variadic[0] else n for n in names)
                         for names in per_rule)
    return inputs, per_rule


def get(name: str) -> OpDef:
    """The registry entry for ``name``; an unknown name lists the closest ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise OpNotFoundError(f"no op named '{name}' in the tapeflow registry{hint}") from None


# --------------------------------------------------------------------------------------
# The gradient namespace R. A rule calls R.mul(g, y); the call goes to the front end that owns
# the arguments (static: adds a graph node; dynamic: computes now), or, when every argument is
# a plain array or number, is evaluated at once (by `evaluate`, or by the kernel itself).


def apply(op: OpDef, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
    """Runs ``op`` through the front end that owns an argument, else on arrays at once."""
    return _caller(op)(*args, **attrs)


def _caller(op: OpDef) -> Callable[..., Any]:
    """``R.<op>``: :func:`apply` with ``op`` bound, and the ufunc its kernel is at hand (a
    gradient rule on arrays makes one Python call per op, then numpy's)."""
    ufunc = getattr(np, op.ufunc) if op.ufunc else None
    kernel = op.kernel
    gemm = op.gemm  # (its kernel takes the thread's raw provider: blas.RAW)
    elementwise = ufunc is not None and not gemm

    def call(*args: Any, **attrs: Any) -> Any:
        common: Any = None  # the arrays' one dtype; False once they mix or one is no array
        # a rule's usual call on arrays (one array; two of one dtype; an array and a Python
        # number) needs none of the loop below: -0.1 us of a 0.5 us R.mul on 4 floats
        count = len(args)
        if count == 2:
            first, second = args
            one, two = type(first), type(second)
            if one is _ndarray:
                # (a stand-in for a shape, such as dynamic mode's Meta, counts as an array)
                if two is float or two is int or ((two is _ndarray or two in _PLAIN) and getattr(
                        second, "dtype", None) is first.dtype):
                    common = first.dtype
                    if elementwise and not attrs and common.kind == "f":
                        if two is float and second:  # (a zero keeps its sign: never cached)
                            found = WEAK.get(common, NO_SCALARS).get(second)
                            second = found if found is not None else weak(second, common)
                        try:  # the tail below, for this case: -70 ns of R.mul(g, y)
                            result = ufunc(first, second)
                        except Exception:  # noqa: BLE001 - rerun for the registry's message
                            return evaluate(op, args, attrs)
                        return result if type(result) is _ndarray else np.asarray(result)
            elif (one is float or one is int) and two is _ndarray:
                common = second.dtype
        elif count == 1 and type(args[0]) is _ndarray:
            common = args[0].dtype
        if common is None:
            common = _scan(args)
            if type(common) is _Handler:
                return common.handler(op, args, attrs)
        if gemm and _RAW.provider is not None:  # as the dispatch's _gemm_attrs, on arrays
            attrs["provider"] = _RAW.provider
        if common is None or common is False or common.kind != "f":
            return evaluate(op, args, attrs)
        # one float dtype: nothing to promote, so the kernel (or its ufunc) runs at once, as
        # the eager dispatch runs it for tensors; an error is raised again by evaluate()
        first = type(args[0])
        try:
            if first is _ndarray or first is float or first is int:
                if ufunc is not None and not attrs:
                    result = ufunc(*args)
                    return result if type(result) is _ndarray else np.asarray(result)
                result = kernel(np, *args, **attrs)
            else:  # a stand-in for a shape, or a cupy array, first
                result = kernel(array_module(args[0]), *args, **attrs)
        except Exception:  # noqa: BLE001 - rerun for the registry's own error message
            return evaluate(op, args, attrs)
        return np.asarray(result) if isinstance(result, _generic) else result

    return call


class _Handler:
    """:func:`_scan`'s answer when a front end owns an argument: its __tapeflow_apply__."""

    __slots__ = ("handler",)

    def __init__(self, handler: Any) -> None:
        self.handler = handler


def _scan(args: tuple[Any, ...]) -> Any:
    """The one dtype of the array arguments (None: no array; False: mixed, or a numpy
    scalar or a value with no dtype), or a :class:`_Handler` when a front end owns one."""
    common: Any = None
    for arg in args:
        cls = type(arg)
        if cls is float or cls is int:
            continue  # a Python number: no front end, and no failed attribute lookup
        if cls is not _ndarray:
            handler = _HANDLERS.get(cls, _caller)
            if handler is _caller:  # (a failed getattr on a class raises inside: 1 µs)
                if len(_HANDLERS) >= _CLASSES_KEPT:  # (classes made at run time: start over)
                    _HANDLERS.clear()
                handler = _HANDLERS[cls] = getattr(cls, "__tapeflow_apply__", None)
            if handler is not None:
                return _Handler(handler)
            if isinstance(arg, _generic) or not isinstance(getattr(arg, "dtype", None),
                                                           np.dtype):
                common = False  # a numpy scalar (strong, not weak) or no array
                continue
            if len(_PLAIN) >= _CLASSES_KEPT:
                _PLAIN.clear()
            _PLAIN.add(cls)  # no front end and no numpy scalar: what call's first test takes
        if common is None:
            common = arg.dtype
        elif common is not False and arg.dtype != common:
            common = False
    return common


_ndarray = np.ndarray
_generic = np.generic
#: class -> its front end's ``__tapeflow_apply__``, or None (a Meta, a numpy scalar, cupy)
_HANDLERS: dict[type, Any] = {}
#: classes with no front end, no numpy scalars, seen with a numpy dtype: an instance whose
#: dtype is an array's counts as an array of that dtype (a Meta, a cupy array)
_PLAIN: set[type] = set()
_CLASSES_KEPT = 256  # (each cache holds its classes strongly: bounded)


class OpNamespace:
    """``R.<op>(*inputs, **attrs)`` for every registered op; the language of gradient rules."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            op = get(name)
        except OpNotFoundError as exc:
            raise AttributeError(str(exc)) from None

        call = _caller(op)
        call.__name__ = name
        call.__doc__ = op.doc
        setattr(self, name, call)  # later lookups skip __getattr__
        return call


#: The registry namespace: ``R.mul(g, y)``. (``F`` means ``torch.nn.functional`` to PyTorch
#: users, as in tapeflow.dynamic.nn, so the runtime does not use that name.)
R = OpNamespace()


# evaluation on raw arrays lives beside this module; it reads OpDef, Spec and the errors above
from .evaluation import (  # noqa: E402
    evaluate,
    operand_dtype,
    prepare_arrays,
    shape_error,
)

__all__ = ["OpDef", "OpNamespace", "R", "REGISTRY", "ShapeError", "Spec", "apply", "evaluate",
           "format_shape", "get", "operand_dtype", "prepare_arrays", "register", "shape_error"]
