"""More ``torch.*`` functions, each the Tensor method of the same name
(``dynamic/tensor_more.py``): ``torch.dot(a, b)`` is ``a.dot(b)``.

Example:
    >>> import tapeflow.dynamic as torch
    >>> torch.outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0])).tolist()
    [[3.0], [6.0]]
"""

from __future__ import annotations

from typing import Any

__all__ = ["addcdiv", "addcmul", "addmm", "argsort", "cumsum", "dot", "gather", "ger",
           "inner", "mv", "outer", "scatter", "scatter_add", "sort", "topk", "vdot"]


def _need(fn: str, value: Any) -> Any:
    if not hasattr(value, "_array"):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(value).__name__}")
    return value


def _method(name: str) -> Any:
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(_need(name, input), name)(*args, **kwargs)

    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = f"``torch.{name}(input, ...)``: the same as ``input.{name}(...)``."
    return function


addcdiv = _method("addcdiv")
addcmul = _method("addcmul")
addmm = _method("addmm")
argsort = _method("argsort")
cumsum = _method("cumsum")
dot = _method("dot")
gather = _method("gather")
ger = _method("ger")
inner = _method("inner")
mv = _method("mv")
outer = _method("outer")
scatter = _method("scatter")
scatter_add = _method("scatter_add")
sort = _method("sort")
topk = _method("topk")
vdot = _method("vdot")
