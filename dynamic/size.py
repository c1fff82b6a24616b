"""``torch.Size``: a tensor's shape, a tuple subclass that prints as PyTorch does."""

from __future__ import annotations


class Size(tuple):
    """The shape of a tensor; ``t.size()`` equals ``t.shape``.

    Example:
        >>> Size((2, 3))
        torch.Size([2, 3])
        >>> Size((2, 3)).numel()
        6
    """

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    __str__ = __repr__
