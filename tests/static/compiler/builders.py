"""IR graphs built by hand for the compiler tests (passes, planner, executor, dot merge,
layout), so they do not depend on the TF1-style front end."""

from __future__ import annotations

from typing import Any

import numpy as np
import tapeflow.static as tf
from tapeflow.graphs import Graph, Node, verify
from tapeflow.runtime import R, Spec, dtypes, evaluate, get

f32 = dtypes.float32
f64 = dtypes.float64


class Sym:
    """A symbolic value of a GraphBuilder; gradient rules called through F add nodes."""

    def __init__(self, builder: GraphBuilder, node_id: int) -> None:
        self.b, self.id = builder, node_id

    @property
    def shape(self) -> Any:
        return self.b.nodes[self.id].shape

    @property
    def dtype(self) -> Any:
        return self.b.nodes[self.id].dtype

    @classmethod
    def __tapeflow_apply__(cls, op: Any, args: Any, attrs: dict[str, Any]) -> Sym:
        b = next(a.b for a in args if isinstance(a, Sym))
        dtype = next(a.dtype for a in args if isinstance(a, Sym))
        ids = [a.id if isinstance(a, Sym) else b.const(np.asarray(a, dtype.np)).id for a in args]
        return b.call(op.name, *ids, **attrs)


class GraphBuilder:
    """Builds IR node lists by hand: placeholders, variables, consts, calls, assigns."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}

    def _add(self, kind: str, op: str, inputs: tuple[int, ...], attrs: dict[str, Any],
             spec: Spec, value: Any = None, name: str = "", role: str = "forward") -> Sym:
        nid = len(self.nodes)
        self.nodes[nid] = Node(nid, kind, op, inputs, attrs, spec.shape, spec.dtype,
                               name=name or f"{op or kind}_{nid}", role=role, value=value)
        return Sym(self, nid)

    def placeholder(self, shape: Any, dtype: Any = f32, name: str = "") -> Sym:
        return self._add("placeholder", "", (), {}, Spec(shape, dtype), name=name)

    def variable(self, shape: Any, dtype: Any = f32, name: str = "") -> Sym:
        return self._add("variable", "", (), {}, Spec(tuple(shape), dtype), name=name)

    def const(self, value: Any) -> Sym:
        value = np.asarray(value)
        return self._add("const", "", (), {}, Spec(value.shape, dtypes.as_dtype(value.dtype)),
                         value=value)

    def call(self, op: str, *inputs: Any, **attrs: Any) -> Sym:
        ids = tuple(i.id if isinstance(i, Sym) else i for i in inputs)
        spec = get(op).infer(*(Spec(self.nodes[i].shape, self.nodes[i].dtype) for i in ids),
                             **attrs)
        return self._add("call", op, ids, attrs, spec)

    def assign(self, var: Sym, value: Sym) -> Sym:
        return self._add("assign", "", (var.id, value.id), {}, Spec(value.shape, value.dtype),
                         role="update")

    def graph(self, *outputs: Sym) -> Graph:
        return Graph(tuple(self.nodes.values()), tuple(o.id for o in outputs))

    def gradients(self, loss: Sym, xs: list[Sym]) -> list[Sym]:
        """Reverse sweep with the registry's vjp rules; broadcasting undone by sum_to."""
        grads: dict[int, Sym] = {loss.id: self.call("full_like", loss, value=1.0)}
        for nid in sorted(self.nodes, reverse=True):
            n = self.nodes[nid]
            if nid not in grads or n.kind != "call" or not n.opdef.differentiable:
                continue
            ins = [Sym(self, i) for i in n.inputs]
            needed = [n.opdef.has_gradient_for(k) for k in range(len(ins))]
            outs = n.opdef.vjp(grads[nid], Sym(self, nid), ins, dict(n.attrs), needed)
            for x, g in zip(ins, outs, strict=True):
                if g is None:
                    continue
                if g.shape != x.shape:
                    g = R.sum_to(g, x)
                grads[x.id] = R.add(grads[x.id], g) if x.id in grads else g
        return [grads[x.id] for x in xs]


def mlp_training_graph(batch: int = 4, hidden: int = 5) -> tuple[Graph, dict[str, Any]]:
    """XOR-shaped sigmoid network, MSE loss, SGD updates; returns graph and node handles."""
    b = GraphBuilder()
    x, y = b.placeholder((None, 2), name="x"), b.placeholder((None, 2), name="y")
    w1, b1 = b.variable((2, hidden), name="w1"), b.variable((hidden,), name="b1")
    w2, b2 = b.variable((hidden, 2), name="w2"), b.variable((2,), name="b2")
    h = R.sigmoid(R.add(R.matmul(x, w1), b1))
    out = R.sigmoid(R.add(R.matmul(h, w2), b2))
    loss = R.mean(R.mul(R.sub(out, y), R.sub(out, y)))
    params = [w1, b1, w2, b2]
    grads = b.gradients(loss, params)
    lr = b.const(np.float32(0.5))
    updates = [b.assign(p, R.sub(p, R.mul(g, lr))) for p, g in zip(params, grads, strict=True)]
    handles = {"x": x, "y": y, "params": params, "loss": loss, "updates": updates}
    return b.graph(loss, *updates), handles


def ops_of(g: Graph) -> list[str]:
    return [n.op for n in g.nodes if n.kind == "call"]


def run_checked(fn: Any, g: Graph, *args: Any) -> tuple[Graph, bool]:
    result, changed = fn(g, *args)
    verify(result)
    return result, changed


def evaluate_graph(g: Graph, sources: dict[int, Any]) -> list[Any]:
    env: dict[int, Any] = {}
    for n in g.nodes:
        if n.kind in ("placeholder", "variable"):
            env[n.id] = sources[n.id]
        elif n.kind == "const":
            env[n.id] = n.value
        elif n.kind == "call":
            env[n.id] = evaluate(n.opdef, [env[i] for i in n.inputs], dict(n.attrs))
        else:
            env[n.id] = env[n.inputs[1]]
    return [env[o] for o in g.outputs]


def sources_for(g: Graph, seed: int = 0) -> dict[int, Any]:
    rng = np.random.default_rng(seed)
    return {n.id: rng.standard_normal(n.shape) for n in g.nodes
            if n.kind in ("placeholder", "variable")}


def rnn_graph(batch: int = 4, steps: int = 6, features: int = 3, hidden: int = 5,
              dtype: Any = np.float64) -> tuple[tf.Graph, Any, Any, Any, list[Any]]:
    graph = tf.Graph()
    rng = np.random.default_rng(0)
    u = lambda *shape: rng.uniform(-0.5, 0.5, shape).astype(dtype)  # noqa: E731
    with graph.as_default():
        x = tf.placeholder(tf.as_dtype(dtype), (None, steps, features), name="x")
        labels = tf.placeholder(tf.int64, (None,), name="labels")
        w_ih = tf.Variable(u(features, hidden), name="w_ih")
        w_hh = tf.Variable(u(hidden, hidden), name="w_hh")
        b_ih = tf.Variable(u(hidden), name="b_ih")
        b_hh = tf.Variable(u(hidden), name="b_hh")
        w_out = tf.Variable(u(hidden, 2), name="w_out")
        state = tf.zeros((batch, hidden), dtype=tf.as_dtype(dtype))
        for t in range(steps):
            state = tf.tanh(tf.matmul(x[:, t, :], w_ih) + b_ih + tf.matmul(state, w_hh) + b_hh)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.matmul(state, w_out)))
        train = tf.train.GradientDescentOptimizer(0.3).minimize(loss)
        init = tf.global_variables_initializer()
    feed = {x: rng.standard_normal((batch, steps, features)).astype(dtype),
            labels: rng.integers(0, 2, batch)}
    return graph, init, feed, (loss, train), [w_ih, w_hh, b_ih, b_hh, w_out]
