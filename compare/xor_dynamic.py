"""XOR in PyTorch style: the graph is recorded anew on every forward pass."""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from ..dynamic import nn
from .weights import XOR_PARAMETERS, load_parameters, read_parameters


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
        load_parameters(self.model, XOR_PARAMETERS, weights)  # the shared starting point
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

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and every gradient at ``weights`` (the lockstep check): no update."""
        load_parameters(self.model, XOR_PARAMETERS, weights)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(torch.tensor(inputs, dtype=self.dtype)),
                            torch.tensor(targets, dtype=self.dtype))
        loss.backward()
        return loss.item(), read_parameters(self.model, XOR_PARAMETERS, gradients=True)

    def weights(self) -> dict[str, np.ndarray]:
        return read_parameters(self.model, XOR_PARAMETERS)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.tensor(inputs, dtype=self.dtype)).argmax(dim=1).numpy()
