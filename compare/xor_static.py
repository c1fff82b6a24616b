"""XOR in TF1 style: build the whole training graph once, then run it in a Session."""

from __future__ import annotations

import numpy as np

from .. import static as tf


class XorStatic:
    """A 2-5-2 network with a sigmoid hidden layer, mean squared error and SGD."""

    def __init__(self, weights: dict[str, np.ndarray], lr: float, dtype: str) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x = tf.placeholder(dtype, shape=(None, 2), name="x")
            self.y = tf.placeholder(dtype, shape=(None, 2), name="y")

            w1 = tf.Variable(weights["w1"], name="w1")
            b1 = tf.Variable(weights["b1"], name="b1")
            w2 = tf.Variable(weights["w2"], name="w2")
            b2 = tf.Variable(weights["b2"], name="b2")

            hidden = tf.sigmoid(tf.matmul(self.x, w1) + b1)
            output = tf.matmul(hidden, w2) + b2
            self.loss = tf.losses.mean_squared_error(labels=self.y, predictions=output)
            self.train_op = tf.train.GradientDescentOptimizer(lr).minimize(self.loss)
            self.prediction = tf.argmax(output, 1)

            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph)
        self.sess.run(init)

    def step(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        loss, _ = self.sess.run([self.loss, self.train_op], {self.x: inputs, self.y: targets})
        return float(loss)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.sess.run(self.prediction, {self.x: inputs})
