"""The sentiment RNN in TF1 style: the loop is unrolled into the graph at a fixed length.

A static graph cannot follow each batch's length, so sentences are padded. A mask keeps
each sentence's state unchanged after its last real word, so the final state is the one
at its true end and the model computes the same function as the dynamic version.

* padded:   one graph at the maximum length; every batch is padded to it;
* bucketed: one graph per length bucket (sharing the variables); a batch is padded only
  up to its bucket.
"""

from __future__ import annotations

import numpy as np

from .. import static as tf
from .data import Batch, bucket_length


class RnnStatic:
    def __init__(
        self, weights: dict[str, np.ndarray], lr: float, dtype: str, lengths: tuple[int, ...]
    ) -> None:
        self.lengths = tuple(sorted(lengths))
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.embedding = tf.Variable(weights["embedding"], name="embedding")
            self.w_ih = tf.Variable(weights["w_ih"], name="w_ih")
            self.w_hh = tf.Variable(weights["w_hh"], name="w_hh")
            self.b_ih = tf.Variable(weights["b_ih"], name="b_ih")
            self.b_hh = tf.Variable(weights["b_hh"], name="b_hh")
            self.w_out = tf.Variable(weights["w_out"], name="w_out")
            self.b_out = tf.Variable(weights["b_out"], name="b_out")
            self.optimizer = tf.train.GradientDescentOptimizer(lr)
            self.unrolled = {t: self._unroll(t, dtype) for t in self.lengths}
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph)
        self.sess.run(init)

    def _unroll(self, steps: int, dtype: str) -> dict:
        with tf.name_scope(f"unrolled_{steps}"):
            tokens = tf.placeholder(tf.int64, shape=(None, steps), name="tokens")
            mask = tf.placeholder(dtype, shape=(None, steps), name="mask")
            labels = tf.placeholder(tf.int64, shape=(None,), name="labels")

            inputs = tf.nn.embedding_lookup(self.embedding, tokens)  # (B, T, D)
            state = tf.zeros_like(tf.matmul(inputs[:, 0, :], self.w_ih))  # (B, H)
            for t in range(steps):
                new_state = tf.tanh(
                    tf.matmul(inputs[:, t, :], self.w_ih)
                    + self.b_ih
                    + tf.matmul(state, self.w_hh)
                    + self.b_hh
                )
                keep = mask[:, t : t + 1]  # 1 for a real word, 0 for padding
                state = keep * new_state + (1 - keep) * state

            logits = tf.matmul(state, self.w_out) + self.b_out
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
            train_op = self.optimizer.minimize(loss)
        return {
            "tokens": tokens,
            "mask": mask,
            "labels": labels,
            "loss": loss,
            "train": train_op,
            "prediction": tf.argmax(logits, 1),
        }

    def graph_length(self, batch: Batch) -> int:
        return bucket_length(batch.max_length, self.lengths)

    def _feed(self, batch: Batch) -> tuple[dict, dict]:
        length = self.graph_length(batch)
        graph = self.unrolled[length]
        padded = batch.padded_to(length)
        feed = {
            graph["tokens"]: padded.tokens,
            graph["mask"]: padded.mask(graph["mask"].dtype.np),
            graph["labels"]: batch.labels,
        }
        return graph, feed

    def step(self, batch: Batch) -> float:
        graph, feed = self._feed(batch)
        loss, _ = self.sess.run([graph["loss"], graph["train"]], feed)
        return float(loss)

    def predict(self, batch: Batch) -> np.ndarray:
        graph, feed = self._feed(batch)
        return self.sess.run(graph["prediction"], feed)
