"""Train XOR in one mode, save, restore in the other, and check both compute the same.

One checkpoint format serves both modes (docs/checkpoint_format.md). What differs between
them is only the NAMES and the LAYOUT of the weights:

* names: PyTorch's ``state_dict`` says ``fc1.weight``; a TF1 graph says ``w1`` (its op name).
  A ``tf.train.Saver`` built from a dict ``{checkpoint_key: variable}`` reads and writes any
  keys, so the static graph below uses the PyTorch names.
* layout: ``nn.Linear.weight`` is (out, in) and computes ``x @ W.T``; the usual TF1 graph
  keeps ``W`` as (in, out) and computes ``x @ W``.

Part 1 stores the static model in the PyTorch layout (``tf.matmul(x, w, transpose_b=True)``),
so one checkpoint is read by both modes unchanged. Part 2 uses the (in, out) graph from
``tapeflow.compare`` and transposes explicitly, in the mapping code, on the way in and out.

Run: ``.venv/bin/python examples/checkpoint_between_modes.py``
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.compare.weights import xor_weights
from tapeflow.compare.xor_dynamic import XorDynamic, XorNet
from tapeflow.compare.xor_static import XorStatic

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TARGETS = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)


def train_dynamic(steps: int) -> XorNet:
    """The PyTorch-style XOR of tapeflow.compare (nn.Linear layers, MSE, SGD), trained."""
    trainer = XorDynamic(xor_weights(0, "float32"), lr=0.5, dtype="float32")
    for _ in range(steps):
        loss = trainer.step(INPUTS, TARGETS)
    print(f"dynamic: trained {steps} steps, loss {loss:.3g}, predictions "
          f"{trainer.predict(INPUTS).tolist()} (targets [0, 1, 1, 0])")
    return trainer.model


class StaticXorTorchLayout:
    """The XOR graph with its weights stored as nn.Linear stores them: (out, in)."""

    def __init__(self) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(1)
            self.x = tf.placeholder(tf.float32, [None, 2], name="x")
            self.y = tf.placeholder(tf.float32, [None, 2], name="y")
            w1 = tf.Variable(tf.random_uniform([5, 2], -1.0, 1.0), name="fc1/weight")
            b1 = tf.Variable(tf.zeros([5]), name="fc1/bias")
            w2 = tf.Variable(tf.random_uniform([2, 5], -1.0, 1.0), name="fc2/weight")
            b2 = tf.Variable(tf.zeros([2]), name="fc2/bias")
            # x @ W.T: the transpose that nn.Linear does, done by the matmul
            hidden = tf.sigmoid(tf.matmul(self.x, w1, transpose_b=True) + b1)
            self.output = tf.matmul(hidden, w2, transpose_b=True) + b2
            loss = tf.losses.mean_squared_error(labels=self.y, predictions=self.output)
            self.loss = loss
            self.train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
            # checkpoint keys are the PyTorch state_dict names
            self.saver = tf.train.Saver({"fc1.weight": w1, "fc1.bias": b1,
                                         "fc2.weight": w2, "fc2.bias": b2})
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph)
        self.sess.run(init)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        return self.sess.run(self.output, {self.x: inputs})


def part1_shared_layout(directory: str) -> None:
    print("\n== Part 1: one layout, PyTorch names in both modes ==")
    model = train_dynamic(500)
    path = os.path.join(directory, "xor_dynamic.pt")
    torch.save(model.state_dict(), path)
    static = StaticXorTorchLayout()
    static.saver.restore(static.sess, path)
    with torch.no_grad():
        dynamic_out = model(torch.from_numpy(INPUTS)).numpy()
    static_out = static.forward(INPUTS)
    print("dynamic -> static: max |difference| of outputs",
          float(np.abs(dynamic_out - static_out).max()))
    np.testing.assert_allclose(static_out, dynamic_out, rtol=1e-5, atol=1e-6)

    for _ in range(200):  # keep training in the static graph, then go back
        static.sess.run(static.train_op, {static.x: INPUTS, static.y: TARGETS})
    path = static.saver.save(static.sess, os.path.join(directory, "xor_static.ckpt"))
    fresh = XorNet()
    fresh.load_state_dict(torch.load(path))
    with torch.no_grad():
        back = fresh(torch.from_numpy(INPUTS)).numpy()
    print("static -> dynamic: max |difference| of outputs",
          float(np.abs(back - static.forward(INPUTS)).max()))
    np.testing.assert_allclose(back, static.forward(INPUTS), rtol=1e-5, atol=1e-6)


def part2_transposed_layout(directory: str) -> None:
    print("\n== Part 2: the (in, out) graph of tapeflow.compare, with explicit transposes ==")
    model = train_dynamic(500)
    state = model.state_dict()
    path = os.path.join(directory, "xor_for_tf.npz")
    # (out, in) -> (in, out), renamed to the static graph's variable names
    torch.save({"w1": state["fc1.weight"].t(), "b1": state["fc1.bias"],
                "w2": state["fc2.weight"].t(), "b2": state["fc2.bias"]}, path)
    static = XorStatic(xor_weights(1, "float32"), lr=0.5, dtype="float32")
    with static.graph.as_default():
        saver = tf.train.Saver()  # keys: the variables' names w1, b1, w2, b2
    saver.restore(static.sess, path)
    with torch.no_grad():
        dynamic_loss = torch.nn.functional.mse_loss(model(torch.from_numpy(INPUTS)),
                                                    torch.from_numpy(TARGETS)).item()
    static_loss = float(static.sess.run(static.loss, {static.x: INPUTS, static.y: TARGETS}))
    print(f"dynamic -> static: loss {dynamic_loss:.6g} vs {static_loss:.6g}")
    np.testing.assert_allclose(static_loss, dynamic_loss, rtol=1e-5)

    for _ in range(100):
        static.step(INPUTS, TARGETS)
    path = saver.save(static.sess, os.path.join(directory, "xor_tf.ckpt"))
    stored = torch.load(path)  # an OrderedDict of tensors keyed w1, b1, w2, b2
    fresh = XorNet()
    # (in, out) -> (out, in) on the way back
    fresh.load_state_dict({"fc1.weight": stored["w1"].t(), "fc1.bias": stored["b1"],
                           "fc2.weight": stored["w2"].t(), "fc2.bias": stored["b2"]})
    with torch.no_grad():
        back = torch.nn.functional.mse_loss(fresh(torch.from_numpy(INPUTS)),
                                            torch.from_numpy(TARGETS)).item()
    static_loss = float(static.sess.run(static.loss, {static.x: INPUTS, static.y: TARGETS}))
    print(f"static -> dynamic: loss {static_loss:.6g} vs {back:.6g}")
    np.testing.assert_allclose(back, static_loss, rtol=1e-5)
    print("predictions:", static.predict(INPUTS).tolist(), "(targets [0, 1, 1, 0])")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        part1_shared_layout(directory)
        part2_transposed_layout(directory)
        print("\ncheckpoint entries:", tf.train.list_variables(os.path.join(directory,
                                                                            "xor_tf.ckpt")))


if __name__ == "__main__":
    main()
