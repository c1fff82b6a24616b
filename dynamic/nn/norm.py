"""``nn.LayerNorm`` and ``nn.BatchNorm1d`` (running statistics, train/eval) with
``F.layer_norm`` / ``F.batch_norm``; the math is ``runtime/composites_norm.py``'s.

Example:
    >>> import tapeflow.dynamic as torch
    >>> bn = torch.nn.BatchNorm1d(2)
    >>> y = bn(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    >>> bn.running_mean.tolist(), bn.num_batches_tracked.item()
    ([0.20000000298023224, 0.4000000059604645], 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...runtime import composites_norm as norm
from ..creation import ones, tensor, zeros
from ..grad_mode import no_grad
from ..tensor import Tensor
from .module import Module, Parameter


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Standardises over the trailing ``normalized_shape`` dimensions, then scales/shifts."""
    shape = tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    return norm.layer_norm(input, axes, weight, bias, eps)


def _channel_view(t: Tensor | None, ndim: int) -> Tensor | None:
    # a per-channel (C,) tensor shaped to broadcast against (N, C) or (N, C, L)
    return t if t is None or ndim == 2 else t.reshape(1, -1, 1)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float | None = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch statistics in training (updating the running ones in place when given),
    running statistics otherwise."""
    if input.ndim not in (2, 3):
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    axes = (0,) if input.ndim == 2 else (0, 2)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {list(input.shape)}")
        mean, var = norm.batch_moments(input, axes)
        if running_mean is not None and running_var is not None:
            with no_grad():
                m = 0.1 if momentum is None else momentum
                unbiased = var.detach().reshape(-1) * (count / (count - 1))
                running_mean.copy_(norm.running_average(running_mean,
                                                        mean.detach().reshape(-1), m))
                running_var.copy_(norm.running_average(running_var, unbiased, m))
    else:
        mean = _channel_view(running_mean, input.ndim)
        var = _channel_view(running_var, input.ndim)
    y = norm.normalize(input, mean, var, eps)
    return norm.scale_shift(y, _channel_view(weight, input.ndim),
                            _channel_view(bias, input.ndim))


class LayerNorm(Module):
    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(ones(*shape)) if elementwise_affine else None
        self.bias = Parameter(zeros(*shape)) if elementwise_affine and bias else None
        if self.weight is None:
            self.register_parameter("weight", None)
        if self.bias is None:
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class BatchNorm1d(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features)) if affine else None
        self.bias = Parameter(zeros(num_features)) if affine else None
        if not affine:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features))
            self.register_buffer("running_var", ones(num_features))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim in (2, 3) and input.shape[1] != self.num_features:
            raise RuntimeError(f"running_mean should contain {input.shape[1]} elements not "
                               f"{self.num_features}")
        use_batch = self.training or not self.track_running_stats
        momentum: Any = self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return batch_norm(input, self.running_mean,
                          self.running_var, self.weight, self.bias, use_batch, momentum,
                          self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")
