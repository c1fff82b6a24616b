"""GRU steps built from registered ops through R, in PyTorch's and TF1's arrangements.

Both blend a candidate ``n`` with the old state by the update gate ``z``:
``h' = (1 - z) n + z h`` (``gru_blend``). They differ in where the reset gate ``r`` acts:
PyTorch's ``nn.GRU`` resets the hidden part of the candidate after its matmul,
``n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))``; TF1's ``GRUCell`` resets the state
before it, ``n = tanh([x, r h] W_c + b_c)``.
"""

from __future__ import annotations

from typing import Any

from .composites import affine
from .registry import R


def gru_blend(h: Any, z: Any, n: Any) -> Any:
    """``(1 - z) n + z h``, written ``n + z (h - n)``."""
    return R.add(n, R.mul(z, R.sub(h, n)))


def _thirds(t: Any, hidden: int) -> list[Any]:
    from .composites import split_indices

    return [R.getitem(t, index=index) for index in split_indices(3 * hidden, hidden, 1)]


def gru_step(x: Any, h: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None
             ) -> Any:
    """One step of PyTorch's GRU, gates stacked (reset, update, new) in the weights' rows."""
    hidden = w_hh.shape[1]
    xr, xz, xn = _thirds(affine(x, w_ih, b_ih), hidden)
    hr, hz, hn = _thirds(affine(h, w_hh, b_hh), hidden)
    r = R.sigmoid(R.add(xr, hr))
    z = R.sigmoid(R.add(xz, hz))
    n = R.tanh(R.add(xn, R.mul(r, hn)))
    return gru_blend(h, z, n)
