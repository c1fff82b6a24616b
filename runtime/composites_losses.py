"""More losses built from registered ops through R, shared by ``torch.nn.functional`` and
``tf.losses``: L1, smooth L1, Huber, weighted negative log-likelihood, KL divergence and
cosine similarity. Each takes per-element values to ``reduce_loss``'s reductions."""

from __future__ import annotations

from typing import Any

from .composites import l2_norm, reduce_loss
from .registry import R


def absolute_difference(x: Any, y: Any) -> Any:
    """``|x - y|`` per element (PyTorch's ``l1_loss`` unreduced, TF1's
    ``absolute_difference``). Written ``d sign(d)``, since ``sign`` passes no gradient, so
    that the gradient is ``g sign(d)``: 0 at a tie, as PyTorch gives (``abs``'s rule does
    not)."""
    d = R.sub(x, y)
    return R.mul(d, R.sign(d))


def l1_loss(x: Any, y: Any, reduction: str = "mean") -> Any:
    return reduce_loss(absolute_difference(x, y), reduction)


def huber(x: Any, y: Any, delta: float = 1.0) -> Any:
    """Per element, with ``d = |x - y|``: ``0.5 d^2`` where d < delta, else
    ``delta (d - 0.5 delta)`` (PyTorch's ``huber_loss``, TF1's ``huber_loss``)."""
    d = absolute_difference(x, y)
    quadratic = R.mul(R.mul(d, d), 0.5)
    return R.where(R.lt(d, delta), quadratic, R.mul(R.sub(d, 0.5 * delta), delta))


def smooth_l1(x: Any, y: Any, beta: float = 1.0) -> Any:
    """Per element: ``0.5 d^2 / beta`` where d < beta, else ``d - 0.5 beta``: Huber divided
    by beta (beta 0 is plain L1)."""
    if beta == 0:
        return absolute_difference(x, y)
    return R.mul(huber(x, y, beta), 1.0 / beta)


def weighted_nll_loss(log_probs: Any, one_hot: Any, weight: Any = None,
                      reduction: str = "mean") -> Any:
    """PyTorch's ``nll_loss`` with class weights: row n loses ``-w[t_n] log_probs[n, t_n]``;
    'mean' divides the sum by the rows' total weight. A row of ``one_hot`` that is all zeros
    (an ignored target) weighs nothing and loses nothing."""
    row_weight = R.sum(one_hot if weight is None else R.mul(one_hot, weight), axis=1)
    rows = R.neg(R.mul(R.sum(R.mul(log_probs, one_hot), axis=1), row_weight))
    if reduction == "mean":
        return R.div(R.sum(rows), R.sum(row_weight))
    return reduce_loss(rows, reduction)


def kl_div(log_q: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Any:
    """KL divergence of log-probabilities ``log_q`` from ``target``, per element
    ``target (log target - log_q)`` (0 where target is 0), or with ``log_target``
    ``exp(target) (target - log_q)``; 'batchmean' divides the sum by the first dimension."""
    if log_target:
        per = R.mul(R.exp(target), R.sub(target, log_q))
    else:
        positive = R.gt(target, 0.0)
        xlogx = R.where(positive, R.mul(target, R.log(R.where(positive, target, 1.0))), 0.0)
        per = R.sub(xlogx, R.mul(target, log_q))
    if reduction == "batchmean":
        return R.div(R.sum(per), float(log_q.shape[0]))
    return reduce_loss(per, reduction)


def cosine_similarity(x1: Any, x2: Any, axis: int = 1, eps: float = 1e-8) -> Any:
    """``sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps))`` along ``axis`` (PyTorch's
    ``cosine_similarity``: each input divided by its clamped norm first)."""
    n1 = R.maximum(l2_norm(x1, axis=axis, keepdims=True), eps)
    n2 = R.maximum(l2_norm(x2, axis=axis, keepdims=True), eps)
    return R.sum(R.mul(R.div(x1, n1), R.div(x2, n2)), axis=axis)
