"""The classic PyTorch XOR tutorial, run on tapeflow.dynamic with only the import changed.

A 2-5-2 network (Linear, Sigmoid, Linear) learns XOR from one-hot targets with mean
squared error and plain SGD. Every step builds a fresh graph, and ``loss.backward()``
walks it in reverse.

Run: ``.venv/bin/python examples/xor_dynamic.py``
"""

from __future__ import annotations

import time

import tapeflow.dynamic as torch
import tapeflow.dynamic.nn as nn


def main(steps: int = 2000, lr: float = 0.5, seed: int = 0) -> float:
    torch.manual_seed(seed)
    inputs = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    targets = nn.functional.one_hot(labels, num_classes=2).float()

    model = nn.Sequential(nn.Linear(2, 5), nn.Sigmoid(), nn.Linear(5, 2))
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    print(model)

    start = time.perf_counter()
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.6f}")
    elapsed = time.perf_counter() - start

    with torch.no_grad():
        predictions = model(inputs).argmax(dim=1)
    print("inputs      ", inputs.tolist())
    print("predictions ", predictions.tolist(), " targets", labels.tolist())
    print(f"{elapsed / steps * 1e6:.0f} us per training step ({steps} steps)")
    correct = bool((predictions == labels).all())
    print("all correct:", correct)
    return loss.item()


if __name__ == "__main__":
    main()
