"""Prototype in eager style, run as a compiled static graph: ``tapeflow.static.function``.

Run: python examples/trace_to_static.py

1. a PyTorch-style XOR training step, run eagerly and traced: the same losses;
2. what the trace recorded (forward, backward and update nodes) and its memory plan;
3. why ``if loss > 0.1:`` cannot be traced, and the fix;
4. one trace per input signature: a new batch size traces again.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic import nn
from tapeflow.visualize import dot_available, static_graph

X = torch.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64))
Y = torch.tensor(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float64))


def make_trainer(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 5), nn.Sigmoid(), nn.Linear(5, 2)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.MSELoss()

    def train_step(x, y):  # plain PyTorch-style code
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss  # not loss.item(): a traced function has no values while it is traced

    return model, train_step


def median_ms(step, runs: int = 300) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step(X, Y)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    print("1. the same training step, eager and traced")
    _, eager_step = make_trainer()
    model, python_step = make_trainer()
    traced_step = tf.function(python_step)
    for i in range(2001):
        eager_loss, traced_loss = eager_step(X, Y).item(), traced_step(X, Y).item()
        if i % 500 == 0:
            print(f"   step {i:4d}  eager {eager_loss:.12f}  traced {traced_loss:.12f}")
    assert eager_loss == traced_loss
    print(f"   traces: {traced_step.trace_count}; parameters live in the eager model: "
          f"fc2 bias = {model[2].bias.tolist()}")
    print(f"   median step: eager {median_ms(eager_step):.3f} ms, "
          f"traced {median_ms(traced_step):.3f} ms")

    print("\n2. what the trace recorded")
    nodes = traced_step.graph.nodes.values()
    roles = {r: sum(1 for n in nodes if n.role == r) for r in ("forward", "backward", "update")}
    print(f"   graph nodes by role: {roles}")
    print("   " + "\n   ".join(traced_step.graph.format().splitlines()[-6:]))
    plan = traced_step.plan(X, Y)
    print(f"   memory plan: {len(plan.steps)} kernel calls, arena {plan.arena_bytes} B "
          f"(no reuse: {plan.naive_bytes} B)")
    out = Path(tempfile.gettempdir(), "traced." + ("svg" if dot_available() else "dot"))
    print("   drew the traced graph:", static_graph(traced_step.graph).save(out))

    print("\n3. Python control flow on a tensor's value")

    @tf.function
    def clipped(x):
        loss = (x * x).mean()
        if loss > 0.1:  # needs the value: a graph built once cannot follow it
            loss = loss * 0.1
        return loss

    try:
        clipped(X)
    except tf.TracingError as error:
        print("   TracingError:", str(error)[:330], "...")

    @tf.function
    def clipped_fixed(x):
        loss = (x * x).mean()
        return torch.where(loss > 0.1, loss * 0.1, loss)  # both sides in the graph

    print(f"   with torch.where: {clipped_fixed(X).item():.3f}")

    print("\n4. one trace per input signature")
    for rows in (4, 3, 4, 2, 3):
        traced_step(X[:rows], Y[:rows])
        print(f"   batch of {rows}: traces so far {traced_step.trace_count}")


if __name__ == "__main__":
    main()
