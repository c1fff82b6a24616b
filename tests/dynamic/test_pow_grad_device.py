"""pow's gradient for a number exponent (``x ** 2``) stays on the tensor's device.

Its rule once computed ``y - 1`` with ``R.sub(2, 1)``: two numbers, so the registry
evaluated it at once into a host (numpy) array, and on cuda ``x ** array`` failed with
"Expected all tensors to be on the same device ... cuda:0 and cpu". Here no GPU is needed:
every call that the registry evaluates on host arrays (no tensor among its arguments) is
recorded, and a backward through pow must make none. tests/dynamic/test_gpu.py runs the
same backward on cuda.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import registry


@pytest.mark.parametrize("exponent", [2, 2.5, np.float32(3.0), -1])
def test_pow_backward_with_a_number_exponent_computes_nothing_on_the_host(
        monkeypatch: pytest.MonkeyPatch, exponent) -> None:  # type: ignore[no-untyped-def]
    host_calls: list[str] = []
    real = registry.evaluate

    def recording(op, args, attrs):  # type: ignore[no-untyped-def]
        host_calls.append(op.name)
        return real(op, args, attrs)

    monkeypatch.setattr(registry, "evaluate", recording)
    x = torch.tensor([1.0, 3.0], requires_grad=True)
    (x ** exponent).sum().backward()
    e = float(exponent)
    np.testing.assert_allclose(x.grad.numpy(), e * np.array([1.0, 3.0]) ** (e - 1), rtol=1e-6)
    assert x.grad.dtype == torch.float32
    assert host_calls == []


def test_pow_backward_with_a_tensor_exponent_still_differentiates_both() -> None:
    x = torch.tensor([1.0, 3.0], requires_grad=True)
    y = torch.tensor([2.0, 0.5], requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.5 * 3.0 ** -0.5], rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 3.0 ** 0.5 * np.log(3.0)], rtol=1e-6)
