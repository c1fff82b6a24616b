"""XOR in TF1 style: build the whole training graph once, then run it in a Session."""

from __future__ import annotations

import numpy as np

from .. import static as tf


class XorStatic:
    """A 2-5-2 network with a sigmoid hidden layer, mean squared error and SGD."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        lr: float,
        dtype: str,
        options: tf.CompileOptions | None = None,
    ) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x = tf.placeholder(dtype, shape=(None, 2), name="x")
            self.y = tf.placeholder(dtype, shape=(None, 2), name="y")

            self.variables = {name: tf.Variable(weights[name], name=name) for name in weights}
            w1, b1, w2, b2 = (self.variables[name] for name in ("w1", "b1", "w2", "b2"))

            hidden = tf.sigmoid(tf.matmul(self.x, w1) + b1)
            output = tf.matmul(hidden, w2) + b2
            self.loss = tf.losses.mean_squared_error(labels=self.y, predictions=output)
            optimizer = tf.train.GradientDescentOptimizer(lr)
            grads_and_vars = optimizer.compute_gradients(self.loss)
            self.grads = {var.op.name: grad for grad, var in grads_and_vars}
            self.train_op = optimizer.apply_gradients(grads_and_vars)
            self.prediction = tf.argmax(output, 1)

            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph, options=options)
        self.sess.run(init)

    def step(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        loss, _ = self.sess.run([self.loss, self.train_op], {self.x: inputs, self.y: targets})
        return float(loss)

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and every gradient at ``weights`` (fed in place of the variables)."""
        feed = {self.x: inputs, self.y: targets}
        feed.update({self.variables[name]: value for name, value in weights.items()})
        loss, grads = self.sess.run([self.loss, self.grads], feed)
        return float(loss), grads

    def weights(self) -> dict[str, np.ndarray]:
        return self.sess.run(self.variables)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.sess.run(self.prediction, {self.x: inputs})
