"""``nn.Module`` and ``nn.Parameter``: the container that finds, moves and saves parameters."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from ...runtime import dtypes as dt
from ..device import as_device, move
from ..dispatch import wrap
from ..interop import note_zero_grad
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module registers as one of its parameters (requires grad).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.nn.Parameter(torch.zeros(2)).requires_grad
        True
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            from ..creation import empty

            data = empty(0)
        src = data.detach()
        for slot in Tensor.__slots__[:-1]:
            setattr(self, slot, getattr(src, slot))
        self._requires_grad = False
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: ``forward`` does the work, ``__call__`` runs it.

    Attributes that are Parameters or Modules are registered in assignment order.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> class Net(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = torch.nn.Linear(2, 1)
        ...     def forward(self, x):
        ...         return self.fc(x)
        >>> [name for name, _ in Net().named_parameters()]
        ['fc.weight', 'fc.bias']
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  f'"forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- registration ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() call")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_modules", "_buffers"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            object.__setattr__(self, name, None)
            return
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        self._buffers[name] = tensor

    def add_module(self, name: str, module: Module) -> None:
        self._modules[name] = module

    # ---- walking the tree ----------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        stack: list[tuple[str, Module]] = [(prefix, self)]
        seen: set[int] = set()
        while stack:  # iterative, pre-order
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(self._modules.items())

    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for name, module in modules:
            for pname, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{name}.{pname}" if name else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for name, module in self.named_modules():
            for bname, b in module._buffers.items():
                if b is not None:
                    yield (f"{name}.{bname}" if name else bname), b

    def buffers(self) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers())

    # ---- training state -----------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad`` (to None by default, as PyTorch 2 does)."""
        note_zero_grad(self.parameters)  # a trace in this thread notes what it clears
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    # ---- saving and moving ------------------------------------------------------------------

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name (detached; sharing memory with the module)."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.detach()
        for name, b in self.named_buffers():
            out[name] = b.detach()
        return out

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> Any:
        """Copies values in by name; with ``strict``, missing or unexpected keys are an error."""
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            # PyTorch's wording, naming only the kinds of mismatch that occurred
            parts = []
            if missing:
                parts.append("Missing key(s) in state_dict: "
                             + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                parts.append("Unexpected key(s) in state_dict: "
                             + ", ".join(f'"{k}"' for k in unexpected) + ".")
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + " ".join(parts))
        from ..grad_mode import no_grad

        # every size is checked before anything is copied: a bad state_dict changes nothing
        for name, value in state_dict.items():
            target = own.get(name)
            if target is not None and tuple(target.shape) != tuple(value.shape):
                raise RuntimeError(f"Error(s) in loading state_dict for "
                                   f"{type(self).__name__}:\n\tsize mismatch for {name}: "
                                   f"copying a param with shape {value.shape} from "
                                   f"checkpoint, the shape in current model is "
                                   f"{target.shape}.")
        with no_grad():
            for name, value in state_dict.items():
                if name in own:
                    own[name].copy_(value)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Moves (and/or casts) every parameter and buffer in place; returns the module."""
        dtype = kwargs.get("dtype")
        device = kwargs.get("device")
        for a in args:
            if isinstance(a, str) or hasattr(a, "type") and not isinstance(a, dt.DType):
                device = a
            else:
                dtype = a
        for tensor in [*self.parameters(), *self.buffers()]:
            array = tensor._array
            if device is not None:
                array = move(array, as_device(device))
            if dtype is not None and dt.as_dtype(dtype).is_floating and array.dtype.kind == "f":
                array = array.astype(dt.as_dtype(dtype).np)
            if array is not tensor._array:
                fresh = wrap(array)
                tensor._array, tensor._storage, tensor._base = array, None, None
                tensor._vc = fresh._vc
                if tensor._grad is not None:
                    tensor._grad = tensor._grad.to(device=device, dtype=tensor.dtype)
        return self

    def float(self) -> Module:
        return self.to(dt.float32)

    def double(self) -> Module:
        return self.to(dt.float64)

    def half(self) -> Module:
        return self.to(dt.float16)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    # ---- printing ----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
