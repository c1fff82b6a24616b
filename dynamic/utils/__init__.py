"""``torch.utils``: the ``data`` helpers (datasets and a batching loader) and ``checkpoint``
(recomputing a region in backward instead of keeping its activations)."""

from __future__ import annotations

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
