"""The benchmark's training steps, defined once: workloads, their weights and data, the
static graph of one step.

``benchmarks/bench_steps.py`` times these steps and the report's GEMM section
(``compare/blas_report.py``) draws the products of RNN-large's; both build them here, so
the table describes the very step the benchmark times.

Example:
    >>> spec = {**WORKLOADS["rnn"], "dtype": "float32"}
    >>> weights, (x, labels) = make_data(spec)
    >>> x.shape, sorted(weights)
    ((32, 20, 32), ['b_hh', 'b_ih', 'b_out', 'w_hh', 'w_ih', 'w_out'])
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

#: name -> workload: XOR (2-5-2, MSE) and two Elman tanh RNNs with softmax cross-entropy
WORKLOADS = {
    "xor": {"kind": "xor", "batch": 4},
    "rnn": {"kind": "rnn", "batch": 32, "steps": 20, "features": 32, "hidden": 128},
    "rnn-large": {"kind": "rnn", "batch": 64, "steps": 50, "features": 128, "hidden": 512},
}
CLASSES = 2
#: SGD's learning rate per workload kind
LR = {"xor": 0.5, "rnn": 0.05}


def make_data(spec: dict) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(weights, (inputs, targets)) of a workload (``spec``: a WORKLOADS entry plus
    ``"dtype"``), drawn from seed 0."""
    rng = np.random.default_rng(0)
    dtype = np.dtype(spec["dtype"])
    if spec["kind"] == "xor":
        from .data import XOR_INPUTS, XOR_TARGETS
        from .weights import xor_weights

        weights = xor_weights(0, spec["dtype"])
        return weights, (XOR_INPUTS.astype(dtype), XOR_TARGETS.astype(dtype))
    b, t, d, h = spec["batch"], spec["steps"], spec["features"], spec["hidden"]
    bound = 1.0 / np.sqrt(h)
    u = lambda *shape: rng.uniform(-bound, bound, size=shape).astype(dtype)  # noqa: E731
    weights = {
        "w_ih": u(d, h),
        "w_hh": u(h, h),
        "b_ih": u(h),
        "b_hh": u(h),
        "w_out": u(h, CLASSES),
        "b_out": u(CLASSES),
    }
    x = rng.standard_normal((b, t, d)).astype(dtype)
    labels = rng.integers(0, CLASSES, size=b)
    return weights, (x, labels)


def _rnn_loss(tf: Any, v: dict[str, Any], spec: dict, dtype: Any) -> tuple[Any, Any, Any]:
    x = tf.placeholder(dtype, shape=(spec["batch"], spec["steps"], spec["features"]), name="x")
    y = tf.placeholder(tf.int64, shape=(spec["batch"],), name="labels")
    state = tf.zeros((spec["batch"], spec["hidden"]), dtype=dtype)
    for t in range(spec["steps"]):
        state = tf.tanh(tf.matmul(x[:, t, :], v["w_ih"]) + v["b_ih"]
                        + tf.matmul(state, v["w_hh"]) + v["b_hh"])
    logits = tf.matmul(state, v["w_out"]) + v["b_out"]
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss


def static_graph(weights: dict[str, np.ndarray], spec: dict, lr: float) -> SimpleNamespace:
    """One training step (forward, backward, SGD) as a ``tapeflow.static`` graph:
    ``graph``, the placeholders ``x`` and ``y``, ``loss``, ``train`` and ``init``."""
    import tapeflow.static as tf

    dtype = getattr(tf, spec.get("dtype", "float64"))
    graph = tf.Graph()
    with graph.as_default():
        v = {k: tf.Variable(w, name=k) for k, w in weights.items()}
        if spec["kind"] == "xor":
            x = tf.placeholder(dtype, shape=(None, 2), name="x")
            y = tf.placeholder(dtype, shape=(None, 2), name="y")
            hidden = tf.sigmoid(tf.matmul(x, v["w1"]) + v["b1"])
            loss = tf.losses.mean_squared_error(
                labels=y, predictions=tf.matmul(hidden, v["w2"]) + v["b2"])
        else:
            x, y, loss = _rnn_loss(tf, v, spec, dtype)
        train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
        init = tf.global_variables_initializer()
    return SimpleNamespace(graph=graph, x=x, y=y, loss=loss, train=train, init=init)


def compiled_step(spec: dict, options: Any = None) -> Any:
    """The compiled training step of an RNN workload (``spec``: a WORKLOADS entry plus
    ``"dtype"``; its make_data weights, its learning rate): a CompiledProgram (``graph``,
    ``plan.providers``), compiled with ``options`` (a ``CompileOptions``) for the fetches
    the benchmark runs, loss and train."""
    from ..runtime import Spec
    from ..static.compiler import compile

    step = static_graph(make_data(spec)[0], spec, LR[spec["kind"]])
    nodes = step.graph.nodes
    feeds = {t.node_id: Spec(nodes[t.node_id].shape, nodes[t.node_id].dtype)
             for t in (step.x, step.y)}
    return compile(step.graph.as_ir([step.loss, step.train]), feeds, options)


__all__ = ["CLASSES", "LR", "WORKLOADS", "compiled_step", "make_data", "static_graph"]
