"""``torch.autograd``: ``grad``, ``backward``, grad mode, and custom ``Function``s.

A custom Function's ``forward`` runs with recording off; one node is recorded for the
whole call, whose backward is the user's ``backward(ctx, grad_output)``.
"""

from __future__ import annotations

from typing import Any

from ..runtime import OpDef, Spec
from ..runtime import dtypes as dt
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .dispatch import apply
from .engine import run_backward
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> x = torch.tensor(3.0, requires_grad=True)
        >>> (g,) = torch.autograd.grad(x * x, x)
        >>> g.item()
        6.0
    """
    outs, ins = _as_list(outputs), _as_list(inputs)
    gouts = _as_list(grad_outputs) or [None] * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    result = run_backward(outs, gouts, retain_graph, create_graph, inputs=ins,
                          allow_unused=allow_unused)
    assert result is not None
    return result


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """``torch.autograd.backward``: ``backward()`` from several outputs at once."""
    outs = _as_list(tensors)
    gouts = _as_list(grad_tensors) or [None] * len(outs)
    run_backward(outs, gouts, create_graph if retain_graph is None else retain_graph,
                 create_graph)


def Variable(data: Tensor, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """The pre-0.4 wrapper, kept for old tutorials: today it is the tensor itself (a leaf
    sharing ``data``'s memory, requiring grad if asked)."""
    out = data.detach()
    out.requires_grad = requires_grad
    return out


# ---- custom functions ---------------------------------------------------------------------


class FunctionCtx:
    """The ``ctx`` of a custom Function: saves tensors for ``backward``."""

    def __init__(self) -> None:
        self._saved: tuple[Any, ...] = ()
        self._versions: tuple[int, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors
        self._versions = tuple(t._vc[0] if isinstance(t, Tensor) else 0 for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        for t, v in zip(self._saved, self._versions, strict=True):
            if isinstance(t, Tensor) and t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{t.type()} {list(t.shape)}] is at version "
                    f"{t._vc[0]}; expected version {v} instead.")
        return self._saved

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass


def _custom_kernel(xp: Any, *arrays: Any, out: Any = None, fn: Any = None) -> Any:
    # the forward already ran; the kernel hands back its stored result
    return fn.result


def _custom_infer(*specs: Spec, fn: Any = None) -> Spec:
    return Spec(tuple(fn.result.shape), dt.of_array(fn.result))


def _custom_vjp(g: Any, ans: Any, *inputs: Any, fn: Any = None) -> tuple[Any, ...]:
    grads = fn.cls.backward(fn.ctx, g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    tensor_slots = [i for i, x in enumerate(fn.args) if isinstance(x, Tensor)]
    out: list[Any] = [None] * len(inputs)
    for slot, i in enumerate(tensor_slots):
        value = grads[i] if i < len(grads) else None
        out[slot] = value
    return tuple(out)


#: The op of every user-defined Function: its rule calls the user's backward. It is kept
#: out of the shared registry on purpose: it has no math of its own for static mode to run.
_CUSTOM = OpDef(name="custom_function", kernel=_custom_kernel, infer=_custom_infer,
                vjps=_custom_vjp, arity=None, kind="custom",
                doc="a user-defined autograd.Function (forward/backward given by the user)")


class _Call:
    __slots__ = ("cls", "ctx", "args", "result")

    def __init__(self, cls: type, ctx: FunctionCtx, args: tuple[Any, ...], result: Any) -> None:
        self.cls, self.ctx, self.args, self.result = cls, ctx, args, result

    def __hash__(self) -> int:
        return id(self)


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, grad_output)``.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> class Square(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * g
        >>> x = torch.tensor([3.0], requires_grad=True)
        >>> Square.apply(x).sum().backward(); x.grad.tolist()
        [6.0]
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("a custom Function must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a custom Function must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args)
        if not isinstance(result, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return one Tensor, got "
                            f"{type(result).__name__}")
        call = _Call(cls, ctx, args, result._array)
        tensors = [a for a in args if isinstance(a, Tensor)]
        out = apply(_CUSTOM, *tensors, fn=call, label=f"{cls.__name__}Backward")
        if out.grad_fn is not None:
            # the ctx checks the versions of what the user saved; nothing else is read
            out.grad_fn.saved = []
            out.grad_fn.ans_vc = None
        return out


__all__ = ["Function", "FunctionCtx", "Variable", "backward", "detect_anomaly", "enable_grad",
           "grad", "is_anomaly_enabled", "is_grad_enabled", "no_grad", "set_detect_anomaly",
           "set_grad_enabled"]
