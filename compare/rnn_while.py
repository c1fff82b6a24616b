"""The sentiment RNN in TF1 style with a loop in the graph: ``tf.nn.dynamic_rnn`` and
``sequence_length``, as TF1 users wrote it.

One graph, compiled once, serves every batch: the loop over time is a single ``while``
node whose body (one cell step) is compiled and memory-planned once, and each run iterates
only as many times as its batch's longest sentence. Past a sentence's own length its state
is carried through unchanged (TF1's ``sequence_length`` rule), so the final state is the
one at its true end, as in the dynamic and padded versions.

The feed keeps one shape (tokens padded to the task's longest sentence, so the Session
compiles one program), but the loop stops at the batch's longest sentence: only the
embedding lookup sees the padding. The cell is a custom ``RNNCell`` with PyTorch's
equations and gate order, so the three styles run the same arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import static as tf
from .data import Batch
from .rnn_static import RnnStatic


class TorchOrderCell:
    """An RNN cell with PyTorch's grouping (Elman, or LSTM with gates i, f, g, o) over the
    trainer's variables; the state is a tuple ``(h,)`` or ``(h, c)``."""

    def __init__(self, trainer: RnnWhile, lstm: bool) -> None:
        self.t, self.lstm = trainer, lstm

    @property
    def output_size(self) -> int:
        return self.t.hidden

    def zero_state(self, inputs: tf.Tensor, dtype: Any) -> tuple:
        zeros = tf.zeros_like(inputs[:, :1], dtype=dtype) + tf.zeros([self.t.hidden], dtype)
        return (zeros, tf.identity(zeros)) if self.lstm else (zeros,)

    def __call__(self, x: tf.Tensor, state: tuple) -> tuple:
        t = self.t
        pre = t._dense(x, t.w_ih, t.b_ih) + t._dense(state[0], t.w_hh, t.b_hh)
        if not self.lstm:
            h = tf.tanh(pre)
            return h, (h,)
        i, f, g, o = tf.split(pre, 4, axis=1)
        c = tf.sigmoid(f) * state[1] + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, (h, c)


class RnnWhile(RnnStatic):
    """Embedding -> ``tf.nn.dynamic_rnn`` with ``sequence_length`` -> linear;
    cross-entropy; SGD on gradients clipped to ``[-clip, clip]`` entry by entry.

    A training step, the lockstep gradients, the weights and predictions run as in the
    unrolled modes (the methods of :class:`RnnStatic`); only the graph and its feed differ.
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float, dtype: str, max_len: int,
                 clip: float = 0.1, options: tf.CompileOptions | None = None,
                 out_in: bool = False, cell: str = "rnn") -> None:
        # (RnnStatic.__init__ is not called: it would unroll graphs this mode does without)
        self.hidden = weights["w_hh"].shape[0]
        self.clip = clip
        self.out_in = out_in  # (see rnn_static.py: PyTorch's (out, in) layout for --exact)
        self.max_len = max_len
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.variables = {name: tf.Variable(value, name=name)
                              for name, value in self._layout(weights).items()}
            for name in ("embedding", "w_ih", "b_ih", "w_hh", "b_hh", "w_out", "b_out"):
                setattr(self, name, self.variables[name])
            self.optimizer = tf.train.GradientDescentOptimizer(lr)
            # the harness's introspection reads the graph of a batch from ``unrolled``
            self.unrolled = {max_len: self._build(dtype, cell == "lstm")}
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph, options=options)
        self.sess.run(init)

    def _build(self, dtype: str, lstm: bool) -> dict:
        tokens = tf.placeholder(tf.int64, shape=(None, self.max_len), name="tokens")
        lengths = tf.placeholder(tf.int32, shape=(None,), name="lengths")
        labels = tf.placeholder(tf.int64, shape=(None,), name="labels")
        inputs = tf.nn.embedding_lookup(self.embedding, tokens)  # (B, T, D)
        _, state = tf.nn.dynamic_rnn(TorchOrderCell(self, lstm), inputs,
                                     sequence_length=lengths, dtype=dtype)
        logits = self._dense(state[0], self.w_out, self.b_out)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grads_and_vars = self.optimizer.compute_gradients(loss)
        clipped = [(tf.clip_by_value(g, -self.clip, self.clip), v) for g, v in grads_and_vars]
        return {"tokens": tokens, "lengths": lengths, "labels": labels, "loss": loss,
                "train": self.optimizer.apply_gradients(clipped),
                "grads": {var.op.name: grad for grad, var in grads_and_vars},
                "prediction": tf.argmax(logits, 1)}

    def graph_length(self, batch: Batch) -> int:
        return batch.max_length  # the loop runs to the batch's longest sentence

    def _feed(self, batch: Batch) -> tuple[dict, dict]:
        graph = self.unrolled[self.max_len]
        return graph, {graph["tokens"]: batch.padded_to(self.max_len).tokens,
                       graph["lengths"]: batch.lengths.astype(np.int32),
                       graph["labels"]: batch.labels}
