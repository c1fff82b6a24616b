"""``torch.utils``: the ``data`` helpers (datasets and a batching loader)."""

from __future__ import annotations

from . import data

__all__ = ["data"]
