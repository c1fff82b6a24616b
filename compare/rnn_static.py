"""The sentiment RNN in TF1 style: the loop is unrolled into the graph at a fixed length.

A static graph cannot follow each batch's length, so sentences are padded. A mask keeps
each sentence's state unchanged after its last real word, so the final state is the one
at its true end and the model computes the same function as the dynamic version.

* padded:   one graph at the maximum length; every batch is padded to it;
* bucketed: one graph per length bucket (sharing the variables); a batch is padded only
  up to its bucket.

The cell is an LSTM (the default) or an Elman RNN, each with PyTorch's equations and gate
order, so both styles run the same arithmetic; ``out_in`` (used by ``--exact``) keeps the
matrices in PyTorch's (out, in) layout, since BLAS may round ``x @ W`` and
``x @ (W^T)^T`` differently.
"""

from __future__ import annotations

import numpy as np

from .. import static as tf
from .data import Batch, bucket_length


class RnnStatic:
    """Embedding -> unrolled cell with a padding mask -> linear; cross-entropy; SGD on
    gradients clipped to ``[-clip, clip]`` entry by entry."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        lr: float,
        dtype: str,
        lengths: tuple[int, ...],
        clip: float = 0.1,
        options: tf.CompileOptions | None = None,
        out_in: bool = False,
        cell: str = "rnn",
    ) -> None:
        self.cell = self._lstm_cell if cell == "lstm" else self._rnn_cell
        self.hidden = weights["w_hh"].shape[0]
        self.clip = clip  # every gradient entry is clipped to [-clip, clip]
        # out_in: hold the matrices (out, in) and read them transposed, as PyTorch does; BLAS
        # may round x @ W differently from x @ (W^T)^T, so bit-exact runs need this layout
        self.out_in = out_in
        self.lengths = tuple(sorted(lengths))
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.variables = {
                name: tf.Variable(value, name=name)
                for name, value in self._layout(weights).items()
            }
            self.embedding = self.variables["embedding"]
            self.w_ih, self.b_ih = self.variables["w_ih"], self.variables["b_ih"]
            self.w_hh, self.b_hh = self.variables["w_hh"], self.variables["b_hh"]
            self.w_out, self.b_out = self.variables["w_out"], self.variables["b_out"]
            self.optimizer = tf.train.GradientDescentOptimizer(lr)
            self.unrolled = {t: self._unroll(t, dtype) for t in self.lengths}
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph, options=options)
        self.sess.run(init)

    def _unroll(self, steps: int, dtype: str) -> dict:
        with tf.name_scope(f"unrolled_{steps}"):
            tokens = tf.placeholder(tf.int64, shape=(None, steps), name="tokens")
            mask = tf.placeholder(dtype, shape=(None, steps), name="mask")
            labels = tf.placeholder(tf.int64, shape=(None,), name="labels")

            inputs = tf.nn.embedding_lookup(self.embedding, tokens)  # (B, T, D)
            # (B, H) zeros (the batch size is known only when the graph runs)
            zeros = tf.zeros_like(mask[:, :1]) + tf.zeros([self.hidden], dtype)
            state = (zeros, zeros) if self.cell == self._lstm_cell else (zeros,)
            for t in range(steps):
                new_state = self.cell(inputs[:, t, :], state)
                keep = mask[:, t : t + 1]  # 1 for a real word, 0 for padding
                state = tuple(
                    keep * new + (1 - keep) * old for new, old in zip(new_state, state, strict=True)
                )

            logits = self._dense(state[0], self.w_out, self.b_out)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
            grads_and_vars = self.optimizer.compute_gradients(loss)
            clipped = [(tf.clip_by_value(g, -self.clip, self.clip), v) for g, v in grads_and_vars]
            train_op = self.optimizer.apply_gradients(clipped)
        return {
            "tokens": tokens,
            "mask": mask,
            "labels": labels,
            "loss": loss,
            "train": train_op,
            "grads": {var.op.name: grad for grad, var in grads_and_vars},
            "prediction": tf.argmax(logits, 1),
        }

    def _dense(self, x: tf.Tensor, w: tf.Variable, b: tf.Variable) -> tf.Tensor:
        return tf.matmul(x, w, transpose_b=self.out_in) + b

    def _rnn_cell(self, x: tf.Tensor, state: tuple) -> tuple:
        """Elman: h' = tanh((x W_ih + b_ih) + (h W_hh + b_hh)), PyTorch's nn.RNN grouping."""
        (h,) = state
        pre = self._dense(x, self.w_ih, self.b_ih) + self._dense(h, self.w_hh, self.b_hh)
        return (tf.tanh(pre),)

    def _lstm_cell(self, x: tf.Tensor, state: tuple) -> tuple:
        """LSTM with PyTorch's gate order (input, forget, cell, output)."""
        h, c = state
        gates = self._dense(x, self.w_ih, self.b_ih) + self._dense(h, self.w_hh, self.b_hh)
        i, f, g, o = tf.split(gates, 4, axis=1)
        new_c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        new_h = tf.sigmoid(o) * tf.tanh(new_c)
        return new_h, new_c

    def _layout(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Shared (in, out) weights in this graph's layout, or back (a transpose is its
        own inverse)."""
        if not self.out_in:
            return dict(weights)
        return {k: np.ascontiguousarray(v.T) if v.ndim == 2 and k != "embedding" else v
                for k, v in weights.items()}

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

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], batch: Batch
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and every gradient at ``weights`` (fed in place of the variables)."""
        graph, feed = self._feed(batch)
        feed.update({self.variables[k]: v for k, v in self._layout(weights).items()})
        loss, grads = self.sess.run([graph["loss"], graph["grads"]], feed)
        return float(loss), self._layout(grads)

    def weights(self) -> dict[str, np.ndarray]:
        return self._layout(self.sess.run(self.variables))

    def predict(self, batch: Batch) -> np.ndarray:
        graph, feed = self._feed(batch)
        return self.sess.run(graph["prediction"], feed)
