"""dot_merge's blocks of an input sequence: one strided copy of a run of steps per block
(no view per step), and a bias every step adds to its product added once per block."""

from __future__ import annotations

import numpy as np
import tapeflow.static as tf
from builders import rnn_graph, run_checked
from tapeflow.runtime import Spec
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler.dot_merge import block_size, dot_merge
from tapeflow.static.compiler.passes import cse, dce, simplify
from tapeflow.static.compiler.pipeline import specialize

STEPS = 20  # blocks of round(sqrt(20)) = 4 steps


def _training_ir():
    graph, _, feed, fetches, _ = rnn_graph(batch=4, steps=STEPS)
    specs = {t.node_id: Spec(np.shape(v), graph.nodes[t.node_id].dtype) for t, v in feed.items()}
    g = specialize(graph.as_ir(list(fetches)), specs).graph
    for fn in (cse, simplify):  # the passes before dot_merge (pipeline.PASSES)
        g, _ = run_checked(fn, g)
    return g


def test_each_block_copies_its_run_of_steps_once_and_adds_the_bias_once():
    g = _training_ir()
    merged, changed = run_checked(dot_merge, g)
    assert changed
    for fn in (cse, dce):  # (the forward's and the gradient's copies of a block are one)
        merged, _ = run_checked(fn, merged)  # the steps' views x[:, t] are read no more
    blocks = -(-STEPS // block_size(STEPS))
    x_id = next(n.id for n in g.nodes if n.kind == "placeholder" and n.name == "x")
    reads_x = [n for n in merged.nodes if n.kind == "call" and x_id in n.inputs]
    assert sorted(n.op for n in reads_x) == ["getitem"] * blocks  # x[:, t0:t1], not x[:, t]
    assert all(n.attrs["index"][1][0] == "slice" for n in reads_x)
    assert not any(n.op == "stack" and any(x_id in merged[i].inputs for i in n.inputs)
                   for n in merged.nodes if n.kind == "call")
    b_ih = next(n.id for n in g.nodes if n.kind == "variable" and n.name.startswith("b_ih"))
    adds = [n for n in merged.nodes if n.op == "add" and b_ih in n.inputs]
    assert [n.shape for n in adds] == [(4 * block_size(STEPS), 5)] * (STEPS // 4)


def test_no_step_adds_the_bias_on_its_own():
    g = _training_ir()
    merged, _ = run_checked(dot_merge, g)
    # each step's add of b_ih went: the steps read rows of the block's sums
    b_ih = next(n.id for n in g.nodes if n.kind == "variable" and n.name.startswith("b_ih"))
    assert not [n for n in merged.nodes if n.op == "add" and b_ih in n.inputs
                and n.shape == (4, 5)]


def test_under_recomputation_each_step_keeps_its_own_bias_add():
    # a step's row of a block's sum would keep the whole block alive past the checkpoints
    g = _training_ir()
    settings = CompileOptions(recompute="sqrt").pass_settings("dot_merge")
    merged, changed = run_checked(lambda graph: dot_merge(graph, **settings), g)
    assert changed
    b_ih = next(n.id for n in g.nodes if n.kind == "variable" and n.name.startswith("b_ih"))
    adds = [n for n in merged.nodes if n.op == "add" and b_ih in n.inputs]
    assert [n.shape for n in adds] == [(4, 5)] * STEPS


def test_training_agrees_with_the_unmerged_graph():
    def train(options: CompileOptions) -> list[float]:
        graph, init, feed, (loss, step), _ = rnn_graph(batch=4, steps=STEPS)
        sess = tf.Session(graph=graph, options=options)
        sess.run(init)
        return [float(sess.run([loss, step], feed)[0]) for _ in range(4)]

    np.testing.assert_allclose(train(CompileOptions()), train(CompileOptions(dot_merge=False)),
                               rtol=1e-12)
