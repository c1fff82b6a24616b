"""Memory planning, step by step: what a static graph lets a compiler do before it runs.

A walkthrough on a small two-layer network (forward + backward + SGD update):

1. the passes: what pruning, specialisation, folding, CSE, simplification, lowering and
   the memory-aware schedule did to the graph;
2. the plan: every intermediate gets a buffer with a lifetime (first and last step that
   touches it); buffers are placed in one arena, largest first, each at the lowest
   64-byte-aligned offset that no buffer alive at the same time occupies;
3. the three numbers: naive bytes (no reuse), arena bytes (the plan), and the lower bound
   (the most bytes alive at any one step), plus a bar chart of live bytes per step;
4. what each switch costs: the same plan with in-place writes or reordering turned off;
5. what runs: the executor's generated straight-line code.

Run: ``.venv/bin/python examples/memory_planning.py``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tapeflow.static as tf
from tapeflow.runtime import Spec, dtypes
from tapeflow.static.compiler import CompileOptions, compile
from tapeflow.visualize import dot_available, static_graph
from tapeflow.visualize.memory_chart import memory_plan_chart

BATCH, FEATURES, HIDDEN, CLASSES = 16, 8, 32, 3


def build() -> tuple[tf.Graph, dict, list]:
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(None, FEATURES), name="x")
        labels = tf.placeholder(tf.int64, shape=(None,), name="labels")
        w1 = tf.Variable(rng.normal(size=(FEATURES, HIDDEN)).astype(np.float32), name="w1")
        b1 = tf.Variable(np.zeros(HIDDEN, np.float32), name="b1")
        w2 = tf.Variable(rng.normal(size=(HIDDEN, CLASSES)).astype(np.float32), name="w2")
        hidden = tf.tanh(tf.matmul(x, w1) + b1)
        logits = tf.matmul(hidden, w2)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feed = {x: rng.normal(size=(BATCH, FEATURES)).astype(np.float32),
            labels: rng.integers(0, CLASSES, size=BATCH)}
    return graph, feed, [loss, train]


def bar_chart(values: list[int], width: int = 50) -> str:
    top = max(values) or 1
    return "\n".join(f"{k:>4} {'#' * round(width * v / top):<{width}} {v}"
                     for k, v in enumerate(values))


def main() -> None:
    graph, feed, fetches = build()
    with graph.as_default():
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)

    # 1. the passes, on the graph the Session would compile for this feed signature
    source = graph.as_ir(fetches)
    specs = {t.node_id: Spec(v.shape, dtypes.as_dtype(v.dtype)) for t, v in feed.items()}
    program = compile(source, specs)
    print(f"The training graph has {len(source.nodes)} nodes; the passes leave "
          f"{len(program.graph.nodes)}:\n")
    print(program.format_passes())

    # 2. the plan that Session.run uses (the same compilation, cached by the session)
    plan = sess.plan(fetches, feed)
    plan.validate()  # raises if two buffers alive at the same step overlap
    print("\nThe memory plan (first 16 steps; 'out' = fetched or assigned, not in the arena):\n")
    print(plan.format(limit=16))

    # 3. the three numbers and the liveness profile
    print(f"\nnaive_bytes       {plan.naive_bytes:>8}  every buffer its own memory")
    print(f"arena_bytes       {plan.arena_bytes:>8}  one arena, reused by greedy-by-size")
    print(f"lower_bound_bytes {plan.lower_bound_bytes:>8}  most bytes alive at one step")
    print("\nLive arena bytes at each step:\n")
    print(bar_chart(plan.live_bytes_per_step()))

    # 4. what in-place writes and the memory-aware schedule are worth
    print("\nThe same graph with one switch off:")
    for switch in ("inplace", "reorder"):
        other = compile(source, specs, CompileOptions().without(switch)).plan
        assert other is not None
        print(f"  {switch}=False: arena_bytes {other.arena_bytes}, "
              f"lower_bound_bytes {other.lower_bound_bytes}")
    # 5. what runs: the schedule as straight-line code over fixed arena views
    lines = program.executor.source.splitlines()
    print(f"\nThe executor's generated code ({len(lines)} lines; c<id> are arena views and "
          "consts bound once, v<id> change every run), first lines:\n")
    print("\n".join(lines[:14]))
    loss, _ = sess.run(fetches, feed)
    print(f"\nOne training step through Session.run: loss {loss:.4f}")

    # 6. the pictures: the plan as rectangles of offset against step, and the graph with
    # each node filled with the colour of its arena offset (same colour, same bytes)
    out = Path(tempfile.gettempdir())
    (out / "memory_plan.svg").write_text(memory_plan_chart(plan, title="memory_planning.py"))
    graph_file = out / ("memory_graph." + ("svg" if dot_available() else "dot"))
    static_graph(graph, fetches, plan=plan).save(graph_file)
    print(f"drew the plan: {out / 'memory_plan.svg'} and the graph: {graph_file}")


if __name__ == "__main__":
    main()
