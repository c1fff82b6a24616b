"""The benchmark workloads written with tapeflow, in both styles (dense-input RNN, XOR)."""

from __future__ import annotations

import numpy as np


def static_step(weights: dict[str, np.ndarray], spec: dict, lr: float, **session_options):
    import tapeflow.static as tf
    from tapeflow.compare.step_models import static_graph

    built = static_graph(weights, spec, lr)  # (one definition, shared with the report)
    graph, x, y, loss, train, init = (built.graph, built.x, built.y, built.loss, built.train,
                                      built.init)
    sess = tf.Session(graph=graph, **session_options)
    sess.run(init)

    def step(inputs, targets):
        value, _ = sess.run([loss, train], {x: inputs, y: targets})
        return value

    step.session = sess  # type: ignore[attr-defined]
    step.fetches = [loss, train]  # type: ignore[attr-defined]
    step.feeds = (x, y)  # type: ignore[attr-defined]
    return step


def dynamic_step(weights: dict[str, np.ndarray], spec: dict, lr: float):
    import tapeflow.dynamic as torch

    dtype = getattr(torch, spec.get("dtype", "float64"))
    params = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
    optimizer = torch.optim.SGD(list(params.values()), lr=lr)
    p = params

    def step(inputs, targets):
        x = torch.from_numpy(inputs)
        y = torch.from_numpy(targets)
        optimizer.zero_grad()
        if spec["kind"] == "xor":
            hidden = torch.sigmoid(x @ p["w1"] + p["b1"])
            loss = ((hidden @ p["w2"] + p["b2"] - y) ** 2).mean()
        else:
            state = torch.zeros(spec["batch"], spec["hidden"], dtype=dtype)
            for t in range(spec["steps"]):
                state = torch.tanh(x[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"] + p["b_hh"])
            logits = state @ p["w_out"] + p["b_out"]
            loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
