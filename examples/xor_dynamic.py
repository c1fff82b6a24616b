"""XOR in PyTorch style: every forward pass records the graph as it runs.

The same model as xor_static.py (2-5-2, sigmoid hidden layer, mean squared error, SGD
with learning rate 0.5, the same starting weights), so both print the same losses.
Run: ``python examples/xor_dynamic.py``; it draws the tape of its last step.
"""

import tempfile
from pathlib import Path

import numpy as np
import tapeflow.dynamic as torch
from tapeflow.visualize import dot_available, tape

rng = np.random.default_rng(0)  # the same starting weights as xor_static.py
x = torch.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32))
y = torch.tensor(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32))

w1 = torch.tensor(rng.uniform(-1, 1, (2, 5)).astype(np.float32), requires_grad=True)
b1 = torch.zeros(5, requires_grad=True)
w2 = torch.tensor(rng.uniform(-1, 1, (5, 2)).astype(np.float32), requires_grad=True)
b2 = torch.zeros(2, requires_grad=True)
optimizer = torch.optim.SGD([w1, b1, w2, b2], lr=0.5)

for step in range(1001):
    optimizer.zero_grad()
    output = torch.sigmoid(x @ w1 + b1) @ w2 + b2  # runs now, and records itself on a tape
    loss = ((output - y) ** 2).mean()
    loss.backward()  # walks the tape in reverse; the next step records a new one
    optimizer.step()
    if step % 250 == 0:
        print(f"step {step:4d}  loss {loss.item():.6f}")
print("predictions:", output.argmax(dim=1).tolist())

out = Path(tempfile.gettempdir(), "xor_dynamic." + ("svg" if dot_available() else "dot"))
params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
print("drew the tape:", tape(loss, params).save(out))
