"""Variable-length sentences, both ways: why static graphs pad and dynamic graphs don't.

Dynamic (PyTorch style): each batch runs for exactly its sentences' length, so the
graph recorded on the tape changes from batch to batch. Static (TF1 style): the loop is
unrolled into the graph at a fixed length; shorter sentences are padded, and a mask
keeps each sentence's state from changing after its last word. Both compute the same
function from the same weights, so their losses agree.

Run: .venv/bin/python examples/rnn_variable_length.py
"""

import tempfile
from pathlib import Path

import tapeflow.dynamic as torch
from tapeflow.compare.data import SentimentTask, padding_waste
from tapeflow.compare.introspect import tape_size
from tapeflow.compare.rnn_dynamic import RnnDynamic
from tapeflow.compare.rnn_figure import rnn_padding_figure
from tapeflow.compare.rnn_static import RnnStatic
from tapeflow.compare.weights import rnn_weights
from tapeflow.visualize import dot_available

task = SentimentTask()
batches = task.batches(batch_size=16, batches_per_length=1, seed=0)
weights = rnn_weights(seed=0, dtype="float64", vocab=task.vocab_size, embed=16, hidden=32)

print("The data: sentences of", task.min_len, "to", task.max_len, "words;",
      len(batches), "batches, each of one length.")
short = min(batches, key=lambda b: b.max_length)
long = max(batches, key=lambda b: b.max_length)

# --- dynamic: the tape follows the data -----------------------------------------------
dynamic = RnnDynamic(weights, lr=0.1, dtype="float64")
for batch in (short, long):
    loss = dynamic.loss_fn(dynamic.model(torch.from_numpy(batch.tokens)),
                           torch.from_numpy(batch.labels))
    print(f"dynamic: a batch of {batch.max_length:2d}-word sentences records "
          f"{tape_size(loss)} nodes on the tape")

# --- static: one graph at the maximum length, or one per bucket ------------------------
padded = RnnStatic(weights, lr=0.1, dtype="float64", lengths=(task.max_len,))
bucketed = RnnStatic(weights, lr=0.1, dtype="float64", lengths=(10, 20, 30, 40))
print(f"static, padded to {task.max_len}: {len(padded.graph.nodes)} graph nodes; "
      f"padding waste {padding_waste(batches, lambda b: task.max_len):.0%} of computed steps")
print(f"static, bucketed (10/20/30/40): {len(bucketed.graph.nodes)} graph nodes in four "
      f"unrolled graphs; padding waste "
      f"{padding_waste(batches, lambda b: bucketed.graph_length(b)):.0%}")

# --- same weights, same batches: the same losses ----------------------------------------
for step, batch in enumerate(batches[:5]):
    losses = [m.step(batch) for m in (dynamic, padded, bucketed)]
    print(f"step {step}: length {batch.max_length:2d}  dynamic {losses[0]:.12f}  "
          f"padded {losses[1]:.12f}  bucketed {losses[2]:.12f}")
    assert max(losses) - min(losses) <= 1e-9 * abs(losses[0]), "the modes disagree"
print("All three modes computed the same losses.")
print("Compilations: padded", padded.sess.compile_count, "- bucketed", bucketed.sess.compile_count,
      "(one per bucket used, plus the initializer)")

# --- the picture: the tape's graphs for three real lengths beside the one padded graph ---
out = Path(tempfile.gettempdir(), "rnn_padding." + ("svg" if dot_available() else "dot"))
print("drew the graphs:", rnn_padding_figure().save(out))
