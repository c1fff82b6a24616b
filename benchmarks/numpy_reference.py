"""Hand-written numpy training steps: the baselines the benchmarks measure tapeflow against.

* ``plain``: forward + backward + SGD written the obvious way (fresh arrays each op);
* ``prealloc``: the same arithmetic into buffers allocated once (``out=``): the numpy limit
  for this op-by-op schedule;
* ``hoisted`` (RNN only): the input projection of every time step done as one GEMM before
  the loop, and the weight gradients summed over time as one GEMM after it;
* ``gemms_only`` (RNN only): not a training step but its floor: only the matrix products
  the hoisted step needs, every one in BLAS's fastest layout, and nothing else. No schedule
  of this arithmetic on one machine's BLAS can take less time.

Every variant computes the same function from the same weights, so their losses agree.
"""

from __future__ import annotations

import numpy as np


def xor_plain(w: dict[str, np.ndarray], lr: float):
    w1, b1, w2, b2 = (w[k].copy() for k in ("w1", "b1", "w2", "b2"))

    def step(x: np.ndarray, y: np.ndarray) -> float:
        nonlocal w1, b1, w2, b2
        h = 0.5 * (1.0 + np.tanh(0.5 * (x @ w1 + b1)))  # sigmoid
        out = h @ w2 + b2
        diff = out - y
        loss = float(np.mean(diff * diff))
        d_out = diff * (2.0 / diff.size)
        d_w2 = h.T @ d_out
        d_b2 = d_out.sum(axis=0)
        d_h = d_out @ w2.T
        d_a = d_h * h * (1.0 - h)
        d_w1 = x.T @ d_a
        d_b1 = d_a.sum(axis=0)
        w1 = w1 - lr * d_w1
        b1 = b1 - lr * d_b1
        w2 = w2 - lr * d_w2
        b2 = b2 - lr * d_b2
        return loss

    return step


def xor_prealloc(w: dict[str, np.ndarray], lr: float, batch: int = 4):
    w1, b1, w2, b2 = (w[k].copy() for k in ("w1", "b1", "w2", "b2"))
    dtype = w1.dtype
    hidden = w1.shape[1]
    h = np.empty((batch, hidden), dtype)
    out = np.empty((batch, 2), dtype)
    d_h = np.empty_like(h)
    tmp_h = np.empty_like(h)
    d_w1, d_b1, d_w2, d_b2 = (np.empty_like(a) for a in (w1, b1, w2, b2))
    scale = 2.0 / out.size

    def step(x: np.ndarray, y: np.ndarray) -> float:
        np.matmul(x, w1, out=h)
        np.add(h, b1, out=h)
        np.multiply(h, 0.5, out=h)
        np.tanh(h, out=h)
        np.add(h, 1.0, out=h)
        np.multiply(h, 0.5, out=h)
        np.matmul(h, w2, out=out)
        np.add(out, b2, out=out)
        np.subtract(out, y, out=out)  # out now holds diff
        loss = float(np.vdot(out, out)) / out.size
        np.multiply(out, scale, out=out)  # d_out
        np.matmul(h.T, out, out=d_w2)
        np.sum(out, axis=0, out=d_b2)
        np.matmul(out, w2.T, out=d_h)
        np.subtract(1.0, h, out=tmp_h)
        np.multiply(tmp_h, h, out=tmp_h)
        np.multiply(d_h, tmp_h, out=d_h)
        np.matmul(x.T, d_h, out=d_w1)
        np.sum(d_h, axis=0, out=d_b1)
        for p, g in ((w1, d_w1), (b1, d_b1), (w2, d_w2), (b2, d_b2)):
            np.multiply(g, lr, out=g)
            np.subtract(p, g, out=p)
        return loss

    return step


def _softmax_ce(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    batch = logits.shape[0]
    loss = -float(log_probs[np.arange(batch), labels].mean())
    d_logits = np.exp(log_probs)
    d_logits[np.arange(batch), labels] -= 1.0
    d_logits /= batch
    return loss, d_logits


def rnn_plain(w: dict[str, np.ndarray], lr: float):
    """Elman RNN over dense inputs x (B, T, D): h_t = tanh(x_t W_ih + b_ih + h W_hh + b_hh)."""
    p = {k: v.copy() for k, v in w.items()}

    def step(x: np.ndarray, labels: np.ndarray) -> float:
        batch, steps, _ = x.shape
        hs = [np.zeros((batch, p["w_hh"].shape[0]), x.dtype)]
        for t in range(steps):
            hs.append(np.tanh(x[:, t] @ p["w_ih"] + p["b_ih"] + hs[-1] @ p["w_hh"] + p["b_hh"]))
        logits = hs[-1] @ p["w_out"] + p["b_out"]
        loss, d_logits = _softmax_ce(logits, labels)
        grads = {"w_out": hs[-1].T @ d_logits, "b_out": d_logits.sum(axis=0)}
        d_h = d_logits @ p["w_out"].T
        g_ih, g_hh, g_b = (np.zeros_like(p[k]) for k in ("w_ih", "w_hh", "b_ih"))
        for t in reversed(range(steps)):
            d_a = d_h * (1.0 - hs[t + 1] * hs[t + 1])
            g_ih += x[:, t].T @ d_a
            g_hh += hs[t].T @ d_a
            g_b += d_a.sum(axis=0)
            d_h = d_a @ p["w_hh"].T
        grads.update(w_ih=g_ih, w_hh=g_hh, b_ih=g_b, b_hh=g_b)
        for k, g in grads.items():
            p[k] = p[k] - lr * g
        return loss

    return step


def rnn_prealloc(
    w: dict[str, np.ndarray], lr: float, batch: int, steps: int, hoisted: bool = False
):
    """The RNN step with every buffer allocated once; ``hoisted`` merges the per-step GEMMs
    that share an operand into one GEMM each (input projection, weight gradients)."""
    p = {k: v.copy() for k, v in w.items()}
    dtype = p["w_ih"].dtype
    features, hidden = p["w_ih"].shape
    hs = np.zeros((steps + 1, batch, hidden), dtype)  # hs[0] is the zero initial state
    pre = np.empty((steps, batch, hidden), dtype)  # pre-activations, then their gradients
    d_h = np.empty((batch, hidden), dtype)
    tmp = np.empty((batch, hidden), dtype)
    logits = np.empty((batch, p["w_out"].shape[1]), dtype)
    g = {k: np.empty_like(v) for k, v in p.items()}
    rows = np.arange(batch)
    g_tmp_ih = np.empty_like(p["w_ih"])
    g_tmp_hh = np.empty_like(p["w_hh"])

    def step(x: np.ndarray, labels: np.ndarray) -> float:
        xt = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, D)
        if hoisted:  # one GEMM for every step's input projection
            np.matmul(
                xt.reshape(steps * batch, features),
                p["w_ih"],
                out=pre.reshape(steps * batch, hidden),
            )
        for t in range(steps):
            if not hoisted:
                np.matmul(xt[t], p["w_ih"], out=pre[t])
            np.matmul(hs[t], p["w_hh"], out=tmp)
            pre[t] += tmp
            pre[t] += p["b_ih"]
            pre[t] += p["b_hh"]
            np.tanh(pre[t], out=hs[t + 1])
        np.matmul(hs[steps], p["w_out"], out=logits)
        np.add(logits, p["b_out"], out=logits)
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=logits)
        np.exp(logits, out=logits)
        np.divide(logits, logits.sum(axis=1, keepdims=True), out=logits)  # softmax
        loss = -float(np.log(logits[rows, labels]).mean())
        logits[rows, labels] -= 1.0
        np.divide(logits, batch, out=logits)  # d_logits
        np.matmul(hs[steps].T, logits, out=g["w_out"])
        np.sum(logits, axis=0, out=g["b_out"])
        np.matmul(logits, p["w_out"].T, out=d_h)
        if not hoisted:
            g["w_ih"].fill(0)
            g["w_hh"].fill(0)
        for t in reversed(range(steps)):
            np.multiply(hs[t + 1], hs[t + 1], out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            np.multiply(d_h, tmp, out=pre[t])  # pre[t] now holds d_a at step t
            if not hoisted:
                np.matmul(xt[t].T, pre[t], out=g_tmp_ih)
                g["w_ih"] += g_tmp_ih
                np.matmul(hs[t].T, pre[t], out=g_tmp_hh)
                g["w_hh"] += g_tmp_hh
            np.matmul(pre[t], p["w_hh"].T, out=d_h)
        if hoisted:  # the weight gradients summed over time, as one GEMM each
            d_a = pre.reshape(steps * batch, hidden)
            np.matmul(xt.reshape(steps * batch, features).T, d_a, out=g["w_ih"])
            np.matmul(hs[:steps].reshape(steps * batch, hidden).T, d_a, out=g["w_hh"])
        np.sum(pre.reshape(steps * batch, hidden), axis=0, out=g["b_ih"])
        g["b_hh"][...] = g["b_ih"]
        for k in p:
            g[k] *= lr
            p[k] -= g[k]
        return loss

    return step


def rnn_gemms_only(w: dict[str, np.ndarray], batch: int, steps: int):
    """The GEMMs of one hoisted RNN step and nothing else (see the module docstring)."""
    dtype = w["w_ih"].dtype
    features, hidden = w["w_ih"].shape
    w_ih, w_hh = w["w_ih"].copy(), w["w_hh"].copy()
    w_hh_t = np.ascontiguousarray(w_hh.T)  # row-major: BLAS packs it fastest
    rng = np.random.default_rng(0)
    hs = rng.uniform(-1, 1, (steps, batch, hidden)).astype(dtype)
    d_a = rng.uniform(-1, 1, (steps, batch, hidden)).astype(dtype)
    pre = np.empty((steps * batch, hidden), dtype)
    out = np.empty((batch, hidden), dtype)
    g_ih, g_hh = np.empty_like(w_ih), np.empty_like(w_hh)

    def step(x: np.ndarray, labels: np.ndarray) -> float:
        xt = x.transpose(1, 0, 2).reshape(steps * batch, features)  # (one copy, as in the step)
        np.matmul(xt, w_ih, out=pre)  # the input projection of every step
        for t in range(1, steps):  # the recurrence (the first state is zero: no product)
            np.matmul(hs[t - 1], w_hh, out=out)
        for t in range(1, steps):  # its gradient (none is needed for the zero first state)
            np.matmul(d_a[t], w_hh_t, out=out)
        np.matmul(xt.T, d_a.reshape(steps * batch, hidden), out=g_ih)
        np.matmul(hs[: steps - 1].reshape((steps - 1) * batch, hidden).T,
                  d_a[1:].reshape((steps - 1) * batch, hidden), out=g_hh)
        return 0.0

    return step
