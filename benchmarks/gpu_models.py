"""XOR and RNN training steps on a chosen device, in both styles, for benchmarks/gpu_bench.py.

The same arithmetic as benchmarks/tapeflow_models.py (XOR 2-5-2 sigmoid + MSE + SGD; an
Elman RNN, B=32 T=20 D=32 H=128, sparse softmax cross-entropy, SGD), with parameters and
batches placed on ``device`` ("cpu" or "gpu"). Each factory returns ``step() -> loss``
(a float on the host, so every step ends synchronised) and ``weights() -> dict`` of host
copies, for the agreement check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

XOR = {"kind": "xor", "batch": 4}
RNN = {"kind": "rnn", "batch": 32, "steps": 20, "features": 32, "hidden": 128}
CLASSES = 2
LR = {"xor": 0.5, "rnn": 0.05}


def make_data(spec: dict[str, Any]) -> tuple[dict[str, np.ndarray], tuple[Any, Any]]:
    """Initial weights and one batch, float64, from seed 0 (host arrays)."""
    rng = np.random.default_rng(0)
    if spec["kind"] == "xor":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
        y = np.stack([1 - np.abs(x[:, 0] - x[:, 1]), np.abs(x[:, 0] - x[:, 1])], 1)
        weights = {"w1": rng.uniform(-1, 1, (2, 5)), "b1": np.zeros(5),
                   "w2": rng.uniform(-1, 1, (5, 2)), "b2": np.zeros(2)}
        return weights, (x, y)
    b, t, d, h = spec["batch"], spec["steps"], spec["features"], spec["hidden"]
    bound = 1.0 / np.sqrt(h)
    weights = {name: rng.uniform(-bound, bound, shape) for name, shape in [
        ("w_ih", (d, h)), ("w_hh", (h, h)), ("b_ih", (h,)), ("b_hh", (h,)),
        ("w_out", (h, CLASSES)), ("b_out", (CLASSES,))]}
    return weights, (rng.standard_normal((b, t, d)), rng.integers(0, CLASSES, size=b))


def _on(device: str, array: np.ndarray) -> Any:
    from tapeflow.runtime.backend import to_device

    return to_device(array, device)


def static_step(spec: dict[str, Any], device: str, cuda_graph: bool = True) -> Any:
    """A TF1-style step: one Session.run of [loss, train] per call, feeds on ``device``."""
    import tapeflow.static as tf
    from tapeflow.static import CompileOptions

    weights, (x_data, y_data) = make_data(spec)
    graph = tf.Graph()
    with graph.as_default():
        v = {k: tf.Variable(w, name=k) for k, w in weights.items()}
        if spec["kind"] == "xor":
            x = tf.placeholder(tf.float64, (None, 2), name="x")
            y = tf.placeholder(tf.float64, (None, 2), name="y")
            hidden = tf.sigmoid(tf.matmul(x, v["w1"]) + v["b1"])
            out = tf.sigmoid(tf.matmul(hidden, v["w2"]) + v["b2"])
            loss = tf.reduce_mean(tf.square(out - y))
        else:
            x = tf.placeholder(tf.float64, (spec["batch"], spec["steps"], spec["features"]), "x")
            y = tf.placeholder(tf.int64, (spec["batch"],), name="labels")
            state = tf.zeros((spec["batch"], spec["hidden"]), dtype=tf.float64)
            for t in range(spec["steps"]):
                state = tf.tanh(tf.matmul(x[:, t, :], v["w_ih"]) + v["b_ih"]
                                + tf.matmul(state, v["w_hh"]) + v["b_hh"])
            logits = tf.matmul(state, v["w_out"]) + v["b_out"]
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.GradientDescentOptimizer(LR[spec["kind"]]).minimize(loss)
        init = tf.global_variables_initializer()
    options = CompileOptions(device=device, **({"cuda_graph": cuda_graph} if device == "gpu"
                                               else {}))
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    feed = {x: _on(device, x_data), y: _on(device, y_data)}

    def step() -> float:
        value, _ = sess.run([loss, train], feed)
        return float(value)

    step.weights = lambda: {k: np.asarray(sess.run(t)) for k, t in v.items()}  # type: ignore[attr-defined]
    step.plan = lambda: sess.plan([loss, train], feed)  # type: ignore[attr-defined]
    return step


def dynamic_step(spec: dict[str, Any], device: str) -> Any:
    """A PyTorch-style step: forward, backward, SGD, ``loss.item()``."""
    import tapeflow.dynamic as torch

    dev = "cuda" if device == "gpu" else "cpu"
    weights, (x_data, y_data) = make_data(spec)
    p = {k: torch.tensor(w, dtype=torch.float64, device=dev, requires_grad=True)
         for k, w in weights.items()}
    optimizer = torch.optim.SGD(list(p.values()), lr=LR[spec["kind"]])
    x = torch.tensor(x_data, dtype=torch.float64, device=dev)
    y = torch.tensor(y_data, dtype=torch.float64 if spec["kind"] == "xor" else torch.int64,
                     device=dev)

    def step() -> float:
        optimizer.zero_grad()
        if spec["kind"] == "xor":
            hidden = torch.sigmoid(x @ p["w1"] + p["b1"])
            out = torch.sigmoid(hidden @ p["w2"] + p["b2"])
            diff = out - y  # (not ** 2: its backward mixes devices in dynamic mode today)
            loss = (diff * diff).mean()
        else:
            state = torch.zeros(spec["batch"], spec["hidden"], dtype=torch.float64, device=dev)
            for t in range(spec["steps"]):
                state = torch.tanh(x[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"]
                                   + p["b_hh"])
            logits = state @ p["w_out"] + p["b_out"]
            loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        return loss.item()

    step.weights = lambda: {k: t.detach().cpu().numpy() for k, t in p.items()}  # type: ignore[attr-defined]
    return step
