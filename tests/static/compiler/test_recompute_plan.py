"""The planner's share of recomputation: values freed by a stack's in-place operands die at
once, and an operand made long before a stack's others does not reserve the whole stack.

Hand-built schedules, planned directly (``mark_inplace``, ``plan_in_place``), so no pass
reorders or rewrites them.
"""

from __future__ import annotations

from tapeflow.graphs import Graph, Node
from tapeflow.runtime import dtypes
from tapeflow.static.compiler.planner import mark_inplace, plan_in_place

f64 = dtypes.float64


def _call(nid: int, op: str, *inputs: int, shape: tuple[int, ...] = (4,)) -> Node:
    return Node(nid, "call", op, inputs, {}, shape, f64, name=f"{op}_{nid}")


def _plan(nodes: list[Node]) -> tuple[object, dict]:
    graph = Graph(tuple(nodes), (nodes[-1].id,))
    plan, slots = plan_in_place(graph, mark_inplace(graph))
    plan.validate()
    return plan, slots


def test_a_buffer_written_over_in_place_dies_when_its_value_moves_into_a_stack() -> None:
    # tanh overwrites neg's buffer in place; the stack then takes tanh's output in its slice,
    # so neg's buffer holds nothing after the tanh and must not live on to the stack's end
    x = Node(0, "placeholder", "", (), {}, (4,), f64)
    nodes = [x, _call(1, "neg", 0), _call(2, "tanh", 1), _call(3, "neg", 0),
             _call(4, "tanh", 3), _call(5, "exp", 0), _call(6, "exp", 5),
             _call(7, "stack", 2, 4, shape=(2, 4)), _call(8, "sum", 7, shape=())]
    plan, slots = _plan(nodes)
    assert set(slots) == {2, 4}
    for pre, tanh in ((1, 2), (3, 4)):
        step = {s.node_id: k for k, s in enumerate(plan.steps)}
        assert plan.lifetimes[plan.buffer_of[pre]] == (step[pre], step[tanh])
    # the two freed buffers are reused by the exps, which run while the stack is alive
    assert plan.arena_bytes <= 2 * 64 + 2 * 64


def test_an_operand_made_long_before_the_others_is_copied_into_the_stack() -> None:
    x = Node(0, "placeholder", "", (), {}, (4,), f64)
    nodes = [x, _call(1, "neg", 0), _call(2, "tanh", 1)]  # the early operand
    nodes += [_call(k, "exp", k - 1 if k > 3 else 0) for k in range(3, 13)]  # other work
    nodes += [_call(13, "neg", 0), _call(14, "tanh", 13), _call(15, "neg", 0),
              _call(16, "stack", 2, 14, 15, shape=(3, 4)), _call(17, "sum", 16, shape=())]
    plan, slots = _plan(nodes)
    assert set(slots) == {14, 15}  # 2 keeps its own buffer and is copied at the stack
    step = {s.node_id: k for k, s in enumerate(plan.steps)}
    assert plan.lifetimes[plan.buffer_of[16]][0] == step[14]
    # the same stack with its operands made together takes all of them
    together = [x, _call(1, "neg", 0), _call(2, "tanh", 1), _call(13, "neg", 0),
                _call(14, "tanh", 13), _call(15, "neg", 0),
                _call(16, "stack", 2, 14, 15, shape=(3, 4)), _call(17, "sum", 16, shape=())]
    assert set(_plan(together)[1]) == {2, 14, 15}
