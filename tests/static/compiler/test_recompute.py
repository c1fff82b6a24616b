"""The recompute pass: clones of forward values in the backward, bit-identical results, a
smaller arena, a valid plan; the byte budget; random draws never recomputed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from builders import rnn_graph
from tapeflow.graphs import Graph, Node
from tapeflow.runtime import Spec, dtypes
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler.pipeline import compile as compile_graph
from tapeflow.static.compiler.recompute import candidates, clean_cuts, recompute, spaced

NO_MERGE = CompileOptions(dot_merge=False)


def _gradient_program(options: CompileOptions, steps: int = 12) -> Any:
    """The compiled program of an unrolled RNN's loss and gradients, and its inputs."""
    graph, init, feed, (loss, _), weights = rnn_graph(steps=steps)
    with graph.as_default():
        grads = tf.gradients(loss, weights)
    outputs = [loss.node_id] + [g.node_id for g in grads]
    ir = Graph(tuple(graph.nodes.values()), tuple(outputs))
    specs = {k.node_id: Spec(np.shape(v), dtypes.as_dtype(np.asarray(v).dtype))
             for k, v in feed.items()}
    sess = tf.Session(graph=graph)
    sess.run(init)
    program = compile_graph(ir, specs, options)
    feeds = {k.node_id: np.asarray(v) for k, v in feed.items()}
    values = {w.node_id: sess.variable_values[w.node_id] for w in weights}
    return program, feeds, values


def _train(options: CompileOptions, dropout: bool = False, steps: int = 10) -> list[Any]:
    graph, init, feed, (loss, train), weights = rnn_graph(steps=steps)
    if dropout:
        with graph.as_default():
            loss = loss + tf.reduce_sum(tf.nn.dropout(weights[1], keep_prob=0.5, seed=3))
            train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run([loss, train], feed)[0] for _ in range(4)]
        sess.plan([loss, train], feed).validate()
        return losses + sess.run(weights)


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("setting", ["sqrt", 1, 20_000])
def test_training_is_bit_identical_with_recomputation(setting: Any, merge: bool) -> None:
    plain = _train(CompileOptions(dot_merge=merge))
    again = _train(CompileOptions(dot_merge=merge, recompute=setting))
    for a, b in zip(plain, again, strict=True):
        assert np.array_equal(a, b)


def test_dropout_is_never_recomputed_and_results_stay_identical() -> None:
    plain = _train(NO_MERGE, dropout=True)
    again = _train(CompileOptions(dot_merge=False, recompute=1), dropout=True)
    for a, b in zip(plain, again, strict=True):
        assert np.array_equal(a, b)
    program, _, _ = _gradient_program(CompileOptions(dot_merge=False, recompute=1))
    for n in program.graph.nodes:
        if n.role == "recompute":
            assert n.opdef.kind != "random" and "generator" not in n.attrs


def test_clones_run_just_before_the_backward_that_reads_them() -> None:
    # (fusion off: the test finds the forward tanh nodes by their op)
    options = CompileOptions(dot_merge=False, recompute="sqrt", fuse=False)
    program, _, _ = _gradient_program(options)
    nodes = program.graph.nodes
    clones = [k for k, n in enumerate(nodes) if n.role == "recompute"]
    assert clones, "the unrolled RNN has stashed values to drop"
    last_forward = max(k for k, n in enumerate(nodes) if n.role == "forward"
                       and n.kind == "call")
    assert min(clones) > last_forward  # nothing recomputed before the backward begins
    position = {n.id: k for k, n in enumerate(nodes)}
    for k in clones:
        readers = [position[m.id] for m in nodes if nodes[k].id in m.inputs]
        assert readers and min(readers) > k
    # every backward read of a dropped value goes to a clone: no forward tanh but the
    # checkpoints is read in the backward
    kept = {n.id for n in nodes if n.role == "forward" and n.op == "tanh"
            and any(nodes[position[u]].role == "backward" for u in
                    [m.id for m in nodes if n.id in m.inputs])}
    assert 0 < len(kept) < 12


def test_arena_shrinks_and_the_plan_validates() -> None:
    plain, feeds, values = _gradient_program(NO_MERGE, steps=16)
    again, _, _ = _gradient_program(CompileOptions(dot_merge=False, recompute="sqrt"), steps=16)
    plain_plan, again_plan = plain.inspect_plan(), again.inspect_plan()
    again_plan.validate()
    assert again_plan.arena_bytes < 0.75 * plain_plan.arena_bytes
    covered = {s.node_id for s in again_plan.steps}
    assert {n.id for n in again.graph.nodes if n.role == "recompute"} <= covered
    a, _ = plain.run(feeds, values)
    b, _ = again.run(feeds, values)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_byte_budget_takes_the_fewest_recomputations_that_fit() -> None:
    plain, _, _ = _gradient_program(NO_MERGE, steps=16)
    arena = plain.inspect_plan().arena_bytes
    roomy, _, _ = _gradient_program(CompileOptions(dot_merge=False, recompute=arena), steps=16)
    assert not [n for n in roomy.graph.nodes if n.role == "recompute"]
    budget = int(arena * 0.9)
    tight, _, _ = _gradient_program(CompileOptions(dot_merge=False, recompute=budget), steps=16)
    sqrt, _, _ = _gradient_program(CompileOptions(dot_merge=False, recompute="sqrt"), steps=16)
    count = lambda p: sum(n.role == "recompute" for n in p.graph.nodes)  # noqa: E731
    assert tight.inspect_plan().arena_bytes <= budget
    assert 0 < count(tight) <= count(sqrt)


def test_articulation_points_skip_values_a_later_step_still_reads() -> None:
    f64 = dtypes.float64

    def node(nid: int, op: str, inputs: tuple[int, ...], role: str = "forward") -> Node:
        kind = "call" if op else "placeholder"
        return Node(nid, kind, op, inputs, {}, (3,), f64, role=role)

    # 1 = tanh(x) reads a source only (free); 2 = tanh(1), 3 = tanh(2), 4 = 2 * 3 (a skip
    # connection over 3), 5 = tanh(4); the backward reads 2 to 5
    nodes = [node(0, "", ()), node(1, "tanh", (0,)), node(2, "tanh", (1,)),
             node(3, "tanh", (2,)), node(4, "mul", (2, 3)), node(5, "tanh", (4,)),
             node(6, "mul", (5, 4), "backward"), node(7, "mul", (6, 3), "backward"),
             node(8, "mul", (7, 2), "backward")]
    g = Graph(tuple(nodes), (8,))
    # 3 is no cut point: 2 is read after it
    assert [n.id for n in candidates(g)] == [2, 4, 5]
    out, changed = recompute(g, "sqrt")  # keeps every 2nd candidate: 4
    assert changed
    by_id = {n.id: n for n in out.nodes}
    backward = [n for n in out.nodes if n.role == "backward"]
    read = {i for n in backward for i in n.inputs}
    assert 4 in read and not read & {2, 3, 5}
    assert {by_id[i].op for i in read if by_id[i].role == "recompute"} == {"tanh"}


@pytest.mark.parametrize("bad", ["log", 0, -5, True, 1.5])
def test_bad_settings_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="CompileOptions.recompute must be None, 'sqrt'"):
        CompileOptions(dot_merge=False, recompute=bad)


def test_merged_blocks_and_recomputation_compose() -> None:
    # 25 steps: dot_merge's products run in blocks of 5 steps, and the checkpoints fall on
    # the blocks' edges, so a block's product needs only its segment's states
    plain, feeds, values = _gradient_program(CompileOptions(), steps=25)
    again, _, _ = _gradient_program(CompileOptions(recompute="sqrt"), steps=25)
    plan = again.inspect_plan()
    plan.validate()
    assert plan.arena_bytes < 0.7 * plain.inspect_plan().arena_bytes
    a, _ = plain.run(feeds, values)
    b, _ = again.run(feeds, values)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    nodes = {n.id: n for n in again.graph.nodes}
    stacks = [n for n in nodes.values() if n.op == "stack" and n.role == "backward"
              and any(nodes[i].role == "recompute" for i in n.inputs)]
    assert stacks
    for n in stacks:  # a checkpoint reaches a stack as a copy: no forward call is stacked
        assert not [i for i in n.inputs if nodes[i].kind == "call" and nodes[i].role == "forward"]
    copies = [n for n in nodes.values() if n.role == "recompute" and n.op == "copy"]
    assert copies and all(n.name.endswith("/recompute") for n in copies)


def test_training_with_merged_blocks_is_bit_identical_with_recomputation() -> None:
    plain = _train(CompileOptions(), steps=20)
    again = _train(CompileOptions(recompute="sqrt"), steps=20)
    for a, b in zip(plain, again, strict=True):
        assert np.array_equal(a, b)


def test_checkpoints_never_split_a_backward_op_that_gathers_stashed_values() -> None:
    f64 = dtypes.float64
    nodes = [Node(0, "placeholder", "", (), {}, (3,), f64)]
    nodes += [Node(k, "call", "tanh", (k - 1,), {}, (3,), f64) for k in range(1, 11)]
    # the backward reads 3 and 10 alone, and gathers 4..7 in one stack
    nodes += [Node(11, "call", "stack", (4, 5, 6, 7), {}, (4, 3), f64, role="backward"),
              Node(12, "call", "neg", (3,), {}, (3,), f64, role="backward"),
              Node(13, "call", "neg", (10,), {}, (3,), f64, role="backward")]
    g = Graph(tuple(nodes), (11, 12, 13))
    found = candidates(g)
    assert [n.id for n in found] == [3, 4, 5, 6, 7, 10]  # 1 is free, 2 read by no backward
    # a checkpoint at 5 or 6 would split the stack: two segments rebuilt for it
    assert clean_cuts(g, found) == [0, 1, 4, 5]
    assert spaced(found, 2, clean_cuts(g, found)) == [4, 7]
    assert spaced(found, 2, list(range(6))) == [4, 6, 10]  # all clean: every 2nd
    out, changed = recompute(g, "sqrt")  # spacing round(sqrt(6)) = 2: checkpoints 4, 7
    assert changed
    stack = next(n for n in out.nodes if n.id == 11)
    by_id = {n.id: n for n in out.nodes}
    # 5 and 6 are rebuilt for it; 4 and 7, kept, reach it as copies made just before it
    assert [by_id[i].op for i in stack.inputs] == ["copy", "tanh", "tanh", "copy"]
    assert all(by_id[i].role == "recompute" for i in stack.inputs)


def test_a_budget_no_spacing_can_help_leaves_the_graph_as_it_was() -> None:
    # with dot merging over all 12 steps, one backward product reads every stashed state at
    # once, so no checkpoint spacing shrinks the arena; clones would only add compute (they
    # used to be kept anyway, and the arena grew from 5,440 to 7,936 bytes)
    plain, _, _ = _gradient_program(CompileOptions(), steps=12)
    tight, _, _ = _gradient_program(CompileOptions(recompute=1), steps=12)
    assert not [n for n in tight.graph.nodes if n.role == "recompute"]
    assert tight.inspect_plan().arena_bytes == plain.inspect_plan().arena_bytes
