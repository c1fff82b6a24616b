"""XOR in PyTorch style: the graph is recorded anew on every forward pass."""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from ..dynamic import nn


class XorNet(nn.Module):
    """A 2-5-2 network with a sigmoid hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 5)
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x)))


class XorDynamic:
    """Mean squared error and SGD around :class:`XorNet`."""

    def __init__(self, weights: dict[str, np.ndarray], lr: float, dtype: str) -> None:
        self.dtype = getattr(torch, dtype)
        self.model = XorNet().to(self.dtype)
        with torch.no_grad():  # start from the shared weights ((in, out) -> (out, in))
            self.model.fc1.weight.copy_(torch.from_numpy(weights["w1"].T.copy()))
            self.model.fc1.bias.copy_(torch.from_numpy(weights["b1"]))
            self.model.fc2.weight.copy_(torch.from_numpy(weights["w2"].T.copy()))
            self.model.fc2.bias.copy_(torch.from_numpy(weights["b2"]))
        self.loss_fn = nn.MSELoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)

    def step(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        x = torch.tensor(inputs, dtype=self.dtype)
        y = torch.tensor(targets, dtype=self.dtype)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.tensor(inputs, dtype=self.dtype)).argmax(dim=1).numpy()
