"""tapeflow.dynamic on the cupy backend (``device='cuda'``); skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import gpu_available

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")]


def test_creation_and_transfer():
    x = torch.ones(2, 3, device="cuda")
    assert x.device.type == "cuda" and x.is_cuda and x.type() == "torch.cuda.FloatTensor"
    assert torch.arange(4, device="cuda").cpu().tolist() == [0, 1, 2, 3]
    y = torch.tensor([1.0, 2.0]).to("cuda")
    assert y.device == torch.device("cuda") and y.cpu().device == torch.device("cpu")
    assert y.storage().data_ptr() == y.data_ptr()
    with pytest.raises(TypeError, match="cpu"):
        y.numpy()


def test_training_step_on_the_gpu_matches_the_cpu():
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Sigmoid(),
                                    torch.nn.Linear(5, 2)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], device=device)
        y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], device=device)
        for _ in range(20):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        results.append(loss.item())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4)


def test_mixed_devices_are_an_error():
    with pytest.raises(RuntimeError, match="same device"):
        torch.ones(2) + torch.ones(2, device="cuda")
