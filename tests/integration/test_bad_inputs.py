"""The catalogue of bad inputs: every mistake a user can make gets a clear error, nothing lost.

Each case below builds some state (a session with trained variables, a model with
gradients), makes one mistake, and checks three things: the exception class, the words
its message must contain, and that the state is exactly as it was before (variables,
``.grad``, graph size, compile cache) and still usable. ``docs/bad_inputs.md`` is
generated from this table (``python tests/integration/test_bad_inputs.py --write``) and a test
checks that the page and the table agree, so they cannot drift apart.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.compare.cli import UsageError, build_parser, main
from tapeflow.dynamic import TensorShapeError
from tapeflow.runtime import ShapeError
from tapeflow.runtime.checkpoint import CheckpointError

# numpy warns about the NaNs and infinities some cases make on purpose
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
PAGE = Path(__file__).resolve().parents[2] / "docs" / "bad_inputs.md"
Scenario = Callable[[], tuple[Callable[[], Any], Callable[[], Any]]]


@dataclass(frozen=True)
class Case:
    """One mistake: what the user did, what must be raised, what must stay unchanged."""

    id: str
    mode: str
    did: str
    error: type[BaseException]
    words: tuple[str, ...]
    state: str
    scenario: Scenario  # () -> (the mistake, a snapshot of the state)


CASES: list[Case] = []


def case(id: str, mode: str, did: str, error: type[BaseException], words: list[str],
         state: str) -> Callable[[Scenario], Scenario]:
    def register(scenario: Scenario) -> Scenario:
        CASES.append(Case(id, mode, did, error, tuple(words), state, scenario))
        return scenario

    return register


# ---- state: a small trained static model and a dynamic one --------------------------------


class StaticModel:
    """x (?, 2) -> sigmoid(x w) vs y, trained one step so the variables are not initial."""

    def __init__(self, **session_options: Any) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x = tf.placeholder(tf.float64, [None, 2], name="x")
            self.y = tf.placeholder(tf.float64, [None, 1], name="y")
            self.w = tf.Variable([[0.5], [-0.5]], dtype=tf.float64, name="w")
            self.pred = tf.sigmoid(tf.matmul(self.x, self.w), name="pred")
            self.loss = tf.reduce_mean(tf.square(self.pred - self.y), name="loss")
            self.train = tf.train.GradientDescentOptimizer(0.5).minimize(self.loss)
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph, options=tf.CompileOptions(**session_options))
        self.sess.run(init)
        self.sess.run(self.train, self.feed())

    def feed(self, rows: int = 4) -> dict[Any, Any]:
        x = np.linspace(-1, 1, rows * 2).reshape(rows, 2)
        return {self.x: x, self.y: (x[:, :1] > 0).astype(np.float64)}

    def snapshot(self) -> dict[str, Any]:
        # also proves the session still works: a correct run after the mistake
        loss = self.sess.run(self.loss, self.feed())
        return {"variables": self.sess.variable_values, "nodes": len(self.graph.nodes),
                "loss": loss, "compiled": self.sess.compile_count}


class DynamicModel:
    """A Linear(2, 1) with one backward done, so .grad holds a value."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 1).double()
        self.x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
        self.model(self.x).sum().backward()

    def snapshot(self) -> dict[str, Any]:
        return {name: (p.detach().numpy().copy(), None if p.grad is None else
                       p.grad.numpy().copy()) for name, p in self.model.named_parameters()}


def _graph_size(graph: tf.Graph) -> Callable[[], int]:
    return lambda: len(graph.nodes)


# ---- static mode ----------------------------------------------------------------------------


@case("static-feed-wrong-shape", "static", "fed a (3, 3) array to a placeholder of shape (?, 2)",
      ValueError, ["Cannot feed value of shape (3, 3)", "'x:0'", "(?, 2)"],
      "variables, graph, compile cache; a correct run still works")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run(m.train, {m.x: np.ones((3, 3)), m.y: np.ones((3, 1))}), m.snapshot


@case("static-feed-wrong-dtype", "static", "fed strings to a float64 placeholder", ValueError,
      ["Cannot feed value", "'x:0'", "float64", "could not convert string"],
      "variables, graph, compile cache")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run(m.loss, {m.x: [["a", "b"]], m.y: [[1.0]]}), m.snapshot


@case("static-missing-feed", "static", "ran the loss without feeding y",
      tf.errors.InvalidArgumentError,
      ["You must feed a value for placeholder tensor 'y'", "float64", "[?,1]", "built at"],
      "variables, graph, compile cache")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run(m.loss, {m.x: np.ones((2, 2))}), m.snapshot


@case("static-feed-batch-mismatch", "static",
      "fed x with 3 rows and y with 2 rows (each fits its placeholder, not each other)",
      tf.errors.InvalidArgumentError, ["cannot be broadcast", "(3, 1)", "(2, 1)", "node 'Sub'"],
      "variables (the train step did not happen), graph, compile cache")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run([m.loss, m.train], {m.x: np.ones((3, 2)),
                                                   m.y: np.ones((2, 1))}), m.snapshot


@case("static-fetch-other-graph", "static", "fetched a tensor built in another tf.Graph",
      ValueError, ["is not an element of this graph"], "variables, both graphs")
def _() -> Any:
    m = StaticModel()
    with tf.Graph().as_default():
        stranger = tf.constant(1.0) * 2
    return lambda: m.sess.run(stranger), m.snapshot


@case("static-feed-key-other-graph", "static", "used another graph's placeholder as a feed key",
      ValueError, ["Cannot interpret feed_dict key as Tensor", "is not an element of this graph"],
      "variables, graph")
def _() -> Any:
    m = StaticModel()
    with tf.Graph().as_default():
        stranger = tf.placeholder(tf.float64, [None, 2], name="x")
    return lambda: m.sess.run(m.loss, {**m.feed(), stranger: np.ones((1, 2))}), m.snapshot


@case("static-mix-graphs", "static", "combined tensors of two graphs in one op", ValueError,
      ["must be from the same graph", "another tf.Graph"], "the graph (no node added)")
def _() -> Any:
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0)
    with g2.as_default():
        b = tf.constant(2.0)
    return lambda: tf.add(a, b), _graph_size(g1)


@case("static-closed-session", "static", "ran a session after closing it", RuntimeError,
      ["Attempted to use a closed Session."], "the graph")
def _() -> Any:
    m = StaticModel()
    m.sess.close()
    return lambda: m.sess.run(m.loss, m.feed()), _graph_size(m.graph)


@case("static-uninitialized-variable", "static",
      "ran the loss before global_variables_initializer()", tf.errors.FailedPreconditionError,
      ["Attempting to use uninitialized value w", "global_variables_initializer"],
      "the graph, the (empty) variable store")
def _() -> Any:
    m = StaticModel()
    fresh = tf.Session(graph=m.graph)
    return lambda: fresh.run(m.loss, m.feed()), lambda: (len(m.graph.nodes),
                                                         fresh.variable_values)


@case("static-matmul-mismatch", "static", "tf.matmul of (2, 3) and (4, 5)", ShapeError,
      ["matmul: inner dimensions differ", "MatMul", "[2,3], [4,5]"], "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        a, b = tf.ones([2, 3]), tf.ones([4, 5])
    return lambda: tf.matmul(a, b), _graph_size(g)


@case("static-concat-mismatch", "static", "tf.concat of (2, 3) and (2, 4) along axis 0",
      ShapeError, ["concat: shapes (2, 3), (2, 4) differ in dimension 1", "ConcatV2"],
      "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        a, b = tf.ones([2, 3]), tf.ones([2, 4])
    return lambda: tf.concat([a, b], 0), _graph_size(g)


@case("static-reshape-mismatch", "static", "tf.reshape of 6 elements into [4, 2]", ShapeError,
      ["cannot reshape a tensor of shape (2, 3) (6 elements)", "(4, 2)"],
      "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        a = tf.ones([2, 3])
    return lambda: tf.reshape(a, [4, 2]), _graph_size(g)


@case("static-gather-out-of-range", "static",
      "fed an index beyond the table to tf.gather inside a training step",
      tf.errors.InvalidArgumentError, ["take: index out of range", "size 3", "GatherV2"],
      "the embedding variable (the failed step assigned nothing)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        idx = tf.placeholder(tf.int64, [None], name="idx")
        table = tf.Variable(np.arange(6.0).reshape(3, 2), name="table")
        loss = tf.reduce_sum(tf.gather(table, idx) ** 2)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g)
    sess.run(init)
    sess.run(train, {idx: [0, 2]})
    return lambda: sess.run(train, {idx: [0, 7]}), lambda: sess.variable_values


@case("static-label-out-of-range", "static",
      "fed class 5 to tf.nn.sparse_softmax_cross_entropy_with_logits over 3 classes",
      tf.errors.InvalidArgumentError,
      ["Received a label value of 5", "valid range of [0, 3)", "sparse_softmax_cross_entropy"],
      "the weights (the failed step assigned nothing)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        labels = tf.placeholder(tf.int64, [None], name="labels")
        w = tf.Variable(np.linspace(-1.0, 1.0, 6).reshape(2, 3), name="w")
        logits = tf.matmul(tf.ones([2, 2], tf.float64), w)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g)
    sess.run(init)
    sess.run(train, {labels: [0, 2]})
    return lambda: sess.run(train, {labels: [0, 5]}), lambda: sess.variable_values


@case("static-nan-check", "static",
      "a training step made NaN (log of a negative) with the numerics check on",
      tf.errors.InvalidArgumentError,
      ["Tensor had NaN values", "node 'Log'", "op log", "No variable was changed"],
      "variables (the step assigned nothing)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        w = tf.Variable(1.0, dtype=tf.float64, name="w")
        loss = tf.reduce_sum(tf.log(x * w))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g, options=tf.CompileOptions(check_numerics=True))
    sess.run(init)
    sess.run(train, {x: [1.0, 2.0]})
    return lambda: sess.run(train, {x: [1.0, -2.0]}), lambda: sess.variable_values


@case("static-nan-in-feed", "static", "fed a NaN with the numerics check on",
      tf.errors.InvalidArgumentError, ["Tensor had NaN values", "placeholder 'x'"],
      "variables")
def _() -> Any:
    m = StaticModel(check_numerics=True)
    feed = m.feed()
    feed[m.x] = feed[m.x].copy()
    feed[m.x][2, 1] = np.nan
    return lambda: m.sess.run(m.train, feed), m.snapshot


@case("static-absurd-shape", "static", "ran tf.zeros([10**6, 10**6]) (3.6 TiB)",
      tf.errors.ResourceExhaustedError,
      ["OOM when allocating tensor with shape[1000000,1000000]", "node 'zeros'",
       "4000000000000 bytes"], "the graph, compile cache (nothing was allocated)")
def _() -> Any:
    m = StaticModel()
    with m.graph.as_default():
        huge = tf.reduce_sum(tf.zeros([10**6, 10**6]))
    return lambda: m.sess.run(huge), m.snapshot


@case("static-absurd-feed-product", "static",
      "fed a (1, 300000) batch to x^T x (a 300000 x 300000 result)",
      tf.errors.ResourceExhaustedError, ["shape[300000,300000]", "node 'MatMul'", "op matmul"],
      "the graph, compile cache")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, None], name="x")
        gram = tf.reduce_sum(tf.matmul(x, x, transpose_a=True))
    sess = tf.Session(graph=g)
    return (lambda: sess.run(gram, {x: np.ones((1, 300000), np.float32)}),
            lambda: (len(g.nodes), sess.compile_count))


@case("static-bad-fetch-type", "static", "passed a number to Session.run", TypeError,
      ["Fetch argument 3 has invalid type", "must be a string or Tensor"], "variables")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run(3), m.snapshot


@case("static-unknown-tensor-name", "static", "fetched 'nope:0', which no op has", KeyError,
      ["The name 'nope' refers to an Operation not in the graph."], "variables")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run("nope:0"), m.snapshot


@case("static-assign-shape", "static", "assigned a (3, 3) value to a (2, 1) variable",
      ValueError, ["Shapes (2, 1) and (3, 3) are incompatible", "Assign"],
      "variables, graph (no node added)")
def _() -> Any:
    m = StaticModel()
    with m.graph.as_default():
        value = tf.ones([3, 3], dtype=tf.float64)
    return lambda: m.w.assign(value), m.snapshot


@case("static-assign-dtype", "static", "assigned an int32 tensor to a float64 variable",
      TypeError, ["has type int32 that does not match type float64"], "variables, graph")
def _() -> Any:
    m = StaticModel()
    with m.graph.as_default():
        value = tf.ones([2, 1], dtype=tf.int32)
    return lambda: m.w.assign(value), m.snapshot


@case("static-no-gradients", "static", "minimize()d a loss that no variable affects",
      ValueError, ["No gradients provided for any variable"], "variables")
def _() -> Any:
    m = StaticModel()

    def mistake() -> Any:
        with m.graph.as_default():
            return tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(m.x))

    return mistake, lambda: m.sess.variable_values


@case("static-eval-without-session", "static", "called t.eval() with no default session",
      ValueError, ["No default session is registered", "eval(session=sess)"], "the graph")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        t = tf.ones([2]) * 3
    return t.eval, _graph_size(g)


@case("static-negative-dim", "static", "declared a placeholder of shape [-2, 3]", ValueError,
      ["Dimension -2 must be >= 0"], "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()

    def mistake() -> Any:
        with g.as_default():
            return tf.placeholder(tf.float32, [-2, 3])

    return mistake, _graph_size(g)


@case("static-finalized-graph", "static", "added an op to a finalized graph", RuntimeError,
      ["Graph is finalized and cannot be modified."], "the graph")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        a = tf.ones([2])
    g.finalize()
    return lambda: a * 2, _graph_size(g)


# ---- dynamic mode ---------------------------------------------------------------------------


@case("dynamic-int-requires-grad", "dynamic", "torch.tensor([1, 2], requires_grad=True)",
      RuntimeError, ["only Tensors of floating point dtype can require gradients"],
      "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.tensor([1, 2], requires_grad=True), m.snapshot


@case("dynamic-backward-twice", "dynamic", "called loss.backward() twice without retain_graph",
      RuntimeError, ["Trying to backward through the graph a second time", "retain_graph=True"],
      ".grad keeps the first backward's value")
def _() -> Any:
    m = DynamicModel()
    loss = torch.sigmoid(m.model(m.x)).sum()
    loss.backward()
    return loss.backward, m.snapshot


@case("dynamic-inplace-saved", "dynamic",
      "changed sigmoid's output in place (y.add_(1)) before backward", RuntimeError,
      ["modified by an inplace operation", "SigmoidBackward0", "version 1; expected version 0"],
      ".grad of every parameter (backward stored nothing)")
def _() -> Any:
    m = DynamicModel()
    y = torch.sigmoid(m.model(m.x))
    y.add_(1)
    return y.sum().backward, m.snapshot


@case("dynamic-inplace-leaf", "dynamic", "weight.add_(1) on a parameter outside no_grad",
      RuntimeError, ["a leaf Variable that requires grad is being used in an in-place operation"],
      "the parameter's values")
def _() -> Any:
    m = DynamicModel()
    return lambda: m.model.weight.add_(1), m.snapshot


@case("dynamic-inplace-view-of-leaf", "dynamic", "w[0].add_(1) on a parameter outside no_grad",
      RuntimeError, ["a view of a leaf Variable that requires grad is being used in an in-place "
                     "operation"], "the parameter's values")
def _() -> Any:
    m = DynamicModel()
    return lambda: m.model.weight[0].add_(1), m.snapshot


@case("dynamic-inplace-int-by-float", "dynamic", "an int64 tensor t.add_(0.5)", RuntimeError,
      ["result type Float can't be cast to the desired output type Long"],
      "the tensor's values and version")
def _() -> Any:
    t = torch.tensor([1, 2, 3])
    return lambda: t.add_(0.5), lambda: (t.numpy().copy(), t._vc[0])


@case("dynamic-cat-mismatch", "dynamic", "torch.cat of (2, 3) and (2, 4) along dim 0",
      TensorShapeError, ["concat: shapes (2, 3), (2, 4) differ in dimension 1"],
      "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.cat([torch.zeros(2, 3), torch.zeros(2, 4)]), m.snapshot


@case("dynamic-matmul-mismatch", "dynamic", "(2, 3) @ (4, 5)", TensorShapeError,
      ["matmul: inner dimensions differ", "(2, 3) and (4, 5)"], "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.ones(2, 3) @ torch.ones(4, 5), m.snapshot


@case("dynamic-linear-wrong-features", "dynamic", "fed 3 features to nn.Linear(2, 1)",
      RuntimeError, ["mat1 and mat2 shapes cannot be multiplied (4x3 and 2x1)"],
      "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    return lambda: m.model(torch.ones(4, 3, dtype=torch.float64)), m.snapshot


@case("dynamic-ragged-list", "dynamic", "torch.tensor([[1, 2], [3]])", ValueError,
      ["expected sequence of length 2 at dim 1 (got 1)"], "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.tensor([[1, 2], [3]]), m.snapshot


@case("dynamic-view-mismatch", "dynamic", "x.view(4, 2) of a 6-element tensor",
      TensorShapeError, ["shape '[4, 2]' is invalid for input of size 6"], "the tensor")
def _() -> Any:
    x = torch.arange(6.0).reshape(2, 3)
    return lambda: x.view(4, 2), lambda: x.numpy().copy()


@case("dynamic-broadcast-mismatch", "dynamic", "(2, 3) + (4,)", TensorShapeError,
      ["cannot be broadcast", "(2, 3) and (4,)"], "both tensors")
def _() -> Any:
    a, b = torch.ones(2, 3), torch.ones(4)
    return lambda: a + b, lambda: (a.numpy().copy(), b.numpy().copy())


@case("dynamic-inplace-broadcast", "dynamic", "x.add_(y) where the result is bigger than x",
      TensorShapeError, ["output with shape [3] doesn't match the broadcast shape [2, 3]"],
      "x's values and version")
def _() -> Any:
    x = torch.ones(3)
    return lambda: x.add_(torch.ones(2, 3)), lambda: (x.numpy().copy(), x._vc[0])


@case("dynamic-nonscalar-backward", "dynamic", "called backward() on a (2, 1) output",
      RuntimeError, ["grad can be implicitly created only for scalar outputs"],
      "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    out = m.model(m.x)
    return out.backward, m.snapshot


@case("dynamic-grad-shape", "dynamic", "backward(gradient) of the wrong shape", RuntimeError,
      ["Mismatch in shape", "torch.Size([3])", "torch.Size([2, 1])"], ".grad")
def _() -> Any:
    m = DynamicModel()
    out = m.model(m.x)
    return lambda: out.backward(torch.ones(3, dtype=torch.float64)), m.snapshot


@case("dynamic-anomaly-forward", "dynamic",
      "log of a negative number with detect_anomaly() on", RuntimeError,
      ["Function 'LogBackward0' returned nan values in its forward output", "op log"],
      "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()

    def mistake() -> Any:
        with torch.autograd.detect_anomaly():
            return torch.log(m.model(m.x) - 100).sum()

    return mistake, m.snapshot


@case("dynamic-anomaly-backward", "dynamic",
      "backward through sqrt at 0 (an infinite gradient) with detect_anomaly() on",
      RuntimeError, ["Function 'SqrtBackward0' returned inf values in its 0th output",
                     "No .grad was changed"], ".grad keeps its earlier value")
def _() -> Any:
    m = DynamicModel()
    m.model.bias.grad = torch.full((1,), 5.0, dtype=torch.float64)

    def mistake() -> None:
        with torch.autograd.detect_anomaly():
            loss = torch.sqrt(m.model(m.x) * 0 + m.model.bias * 0).sum()
            loss.backward()

    return mistake, m.snapshot


@case("dynamic-absurd-empty", "dynamic", "torch.empty(10**7, 10**7) (364 TiB)", RuntimeError,
      ["not enough memory: you tried to allocate 400000000000000 bytes", "[10000000, 10000000]"],
      "model parameters (nothing was allocated)")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.empty(10**7, 10**7), m.snapshot


@case("dynamic-negative-size", "dynamic", "torch.zeros(-1, 2)", RuntimeError,
      ["Trying to create tensor with negative dimension -1: [-1, 2]"], "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.zeros(-1, 2), m.snapshot


@case("dynamic-numpy-requires-grad", "dynamic", "weight.numpy() on a parameter", RuntimeError,
      ["Can't call numpy() on Tensor that requires grad", "detach().numpy()"],
      "model parameters")
def _() -> Any:
    m = DynamicModel()
    return m.model.weight.numpy, m.snapshot


@case("dynamic-item-many", "dynamic", "loss.item() on a (2, 1) tensor", RuntimeError,
      ["a Tensor with 2 elements cannot be converted to Scalar"], "model parameters")
def _() -> Any:
    m = DynamicModel()
    out = m.model(m.x)
    return out.item, m.snapshot


@case("dynamic-nonleaf-requires-grad", "dynamic", "set requires_grad=False on a computed tensor",
      RuntimeError, ["you can only change requires_grad flags of leaf variables"],
      "the tensor's grad_fn")
def _() -> Any:
    m = DynamicModel()
    out = m.model(m.x)

    def mistake() -> None:
        out.requires_grad = False

    return mistake, lambda: (out.requires_grad, out.grad_fn.name())


@case("dynamic-empty-optimizer", "dynamic", "torch.optim.SGD([], lr=0.1)", ValueError,
      ["optimizer got an empty parameter list"], "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.optim.SGD([], lr=0.1), m.snapshot


@case("dynamic-state-dict-size", "dynamic",
      "load_state_dict with a good weight and a bias of the wrong size", RuntimeError,
      ["size mismatch for bias", "torch.Size([3])", "torch.Size([1])"],
      "every parameter (the good weight was not copied either)")
def _() -> Any:
    m = DynamicModel()
    bad = {"weight": torch.zeros(1, 2, dtype=torch.float64),
           "bias": torch.zeros(3, dtype=torch.float64)}
    return lambda: m.model.load_state_dict(bad), m.snapshot


@case("dynamic-state-dict-missing", "dynamic", "load_state_dict without the bias", RuntimeError,
      ['Missing key(s) in state_dict: "bias"'], "every parameter")
def _() -> Any:
    m = DynamicModel()
    return lambda: m.model.load_state_dict({"weight": torch.zeros(1, 2)}), m.snapshot


@case("dynamic-cross-entropy-target", "dynamic", "cross_entropy with class 5 of 3",
      IndexError, ["Target 5 is out of bounds"], "model parameters and .grad")
def _() -> Any:
    m = DynamicModel()
    logits = torch.ones(2, 3, requires_grad=True)
    return (lambda: torch.nn.functional.cross_entropy(logits, torch.tensor([0, 5])),
            m.snapshot)


# ---- sizes, ranges, byte orders and files (issue 18, item 13) -------------------------------


@case("static-zeros-float-size", "static", "tf.zeros([2.5, 2])", TypeError,
      ["zeros: Expected int32, got 2.5 of type 'float' instead."], "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        return lambda: tf.zeros([2.5, 2]), _graph_size(g)


@case("static-reshape-float-size", "static", "tf.reshape(x, [2.0, 2]) (2.0, not 2)", TypeError,
      ["Reshape: Expected int32, got 2.0 of type 'float' instead."], "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        x = tf.ones([4])
        return lambda: tf.reshape(x, [2.0, 2]), _graph_size(g)


@case("static-feed-int32-overflow", "static", "fed 2**40 to an int32 placeholder", ValueError,
      ["Cannot feed value [1099511627776] for Tensor 'idx:0' of dtype int32",
       "out of bounds for int32"], "variables, graph, compile cache")
def _() -> Any:
    m = StaticModel()
    with m.graph.as_default():
        idx = tf.placeholder(tf.int32, [None], name="idx")
        total = tf.reduce_sum(idx)
    return lambda: m.sess.run(total, {idx: [2**40]}), m.snapshot


@case("static-rank-65", "static", "tf.zeros([1] * 65)", ValueError,
      ["zeros: a tensor can have at most 64 dimensions", "the shape has 65"],
      "the graph (no node added)")
def _() -> Any:
    g = tf.Graph()
    with g.as_default():
        return lambda: tf.zeros([1] * 65), _graph_size(g)


@case("dynamic-zeros-float-size", "dynamic", "torch.zeros(2.5, 2)", TypeError,
      ["zeros(): argument 'size' (position 1) must be tuple of ints, but found element of "
       "type float at pos 0"], "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.zeros(2.5, 2), m.snapshot


@case("dynamic-ones-float-tuple", "dynamic", "torch.ones((2.0, 3)) (2.0, not 2)", TypeError,
      ["ones(): argument 'size' (position 1) must be tuple of ints", "float at pos 0"],
      "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.ones((2.0, 3)), m.snapshot


@case("dynamic-reshape-float-size", "dynamic", "x.reshape(2.0, 2)", TypeError,
      ["must be tuple of ints, but found element of type float at pos 0"], "the tensor")
def _() -> Any:
    x = torch.arange(4.0)
    return lambda: x.reshape(2.0, 2), lambda: (x.shape, x.numpy().copy())


@case("dynamic-tensor-int32-overflow", "dynamic", "torch.tensor([2**40], dtype=torch.int32)",
      RuntimeError, ["value cannot be converted to type int32 without overflow"],
      "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.tensor([2**40], dtype=torch.int32), m.snapshot


@case("dynamic-from-numpy-big-endian", "dynamic", "torch.from_numpy of a big-endian ('>f4') array",
      ValueError, ["byte order different from the native byte order", "astype"], "the array")
def _() -> Any:
    array = np.arange(3, dtype=">f4")
    return lambda: torch.from_numpy(array), lambda: array.copy()


@case("dynamic-rank-65", "dynamic", "torch.zeros([1] * 65)", ValueError,
      ["zeros()", "a tensor can have at most 64 dimensions", "the shape has 65"],
      "model parameters")
def _() -> Any:
    m = DynamicModel()
    return lambda: torch.zeros([1] * 65), m.snapshot


@case("dynamic-load-damaged-checkpoint", "dynamic",
      "torch.load of a checkpoint with one byte of a tensor changed", CheckpointError,
      ["the data of parameter 'w' is damaged", "Bad CRC-32"], "the file; nothing is returned")
def _() -> Any:
    path = Path(tempfile.mkdtemp()) / "damaged.pt"
    torch.save({"w": torch.ones(4)}, path)
    data = path.read_bytes()
    at = data.index(np.float32(1.0).tobytes())
    path.write_bytes(data[:at] + np.float32(2.0).tobytes() + data[at + 4:])
    return lambda: torch.load(path), path.read_bytes


# ---- the command line ---------------------------------------------------------------------


@case("cli-unknown-workload", "cli", "tapeflow compare mnist", UsageError,
      ["invalid choice: 'mnist'", "(see --help)"], "nothing runs; exit status 2")
def _() -> Any:
    return lambda: build_parser().parse_args(["compare", "mnist"]), lambda: None


@case("cli-zero-steps", "cli", "tapeflow compare xor --steps 0", UsageError,
      ["expected a positive integer, got 0"], "nothing runs; exit status 2")
def _() -> Any:
    return lambda: build_parser().parse_args(["compare", "xor", "--steps", "0"]), lambda: None


@case("cli-missing-mode", "cli", "tapeflow train xor (no --mode)", UsageError,
      ["the following arguments are required: --mode"], "nothing runs; exit status 2")
def _() -> Any:
    return lambda: build_parser().parse_args(["train", "xor"]), lambda: None


@case("cli-bad-dtype", "cli", "tapeflow compare xor --dtype int8", UsageError,
      ["invalid choice: 'int8'"], "nothing runs; exit status 2")
def _() -> Any:
    return (lambda: build_parser().parse_args(["compare", "xor", "--dtype", "int8"]),
            lambda: None)


@case("static-fed-variable-in-train-step", "static",
      "fed the variable w while running the training step that assigns it",
      tf.errors.InvalidArgumentError, ["Cannot feed variable 'w'", "assigns it", "float_ref"],
      "variables, graph, compile cache; a run that only reads w may feed it, as in TF1")
def _() -> Any:
    m = StaticModel()
    return lambda: m.sess.run(m.train, {**m.feed(), m.w: [[1.0], [1.0]]}), m.snapshot


# ---- the tests ------------------------------------------------------------------------------


def _same(before: Any, after: Any, path: str = "state") -> None:
    if isinstance(before, dict):
        assert before.keys() == after.keys(), path
        for key in before:
            _same(before[key], after[key], f"{path}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), path
        for k, (a, b) in enumerate(zip(before, after, strict=True)):
            _same(a, b, f"{path}[{k}]")
    elif isinstance(before, np.ndarray) or isinstance(after, np.ndarray):
        assert np.array_equal(before, after, equal_nan=True), f"{path} changed"
    else:
        assert before == after, f"{path} changed: {before!r} -> {after!r}"


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_mistake_raises_a_clear_error_and_changes_nothing(item: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own nan warnings
        mistake, snapshot = item.scenario()
        before = snapshot()
        with pytest.raises(item.error) as info:
            mistake()
        after = snapshot()
    message = str(info.value)
    for words in item.words:
        assert words in message, f"{item.id}: {words!r} not in the message:\n{message}"
    _same(before, after)


@pytest.mark.parametrize("argv", [["compare", "mnist"], ["compare", "xor", "--steps", "0"],
                                  ["train", "xor"], ["train", "xor", "--mode", "eager"]])
def test_command_line_mistakes_exit_with_status_2_and_one_line(argv: list[str],
                                                               capsys: Any) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tapeflow") and "\n" not in err, err


def test_the_catalogue_has_at_least_25_cases_with_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 25


# ---- the numerics switches themselves -----------------------------------------------------


def _ratio_graph() -> tuple[tf.Graph, Any, Any]:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        y = tf.reduce_sum(tf.divide(1.0, x, name="ratio"))
    return g, x, y


def test_enable_check_numerics_applies_to_sessions_created_afterwards() -> None:
    g, x, y = _ratio_graph()
    before = tf.Session(graph=g)
    tf.debugging.enable_check_numerics()
    try:
        checked = tf.Session(graph=g)
    finally:
        tf.debugging.disable_check_numerics()
    after = tf.Session(graph=g)
    assert np.isinf(before.run(y, {x: [0.0, 1.0]}))
    assert np.isinf(after.run(y, {x: [0.0, 1.0]}))
    with pytest.raises(tf.debugging.NumericsError, match="Tensor had Inf values") as info:
        checked.run(y, {x: [0.0, 1.0]})
    assert info.value.op_name == "ratio"
    # finite runs give exactly what the default program gives
    assert checked.run(y, {x: [2.0, 4.0]}) == before.run(y, {x: [2.0, 4.0]}) == 0.75


def test_anomaly_mode_is_off_by_default_and_check_nan_false_turns_the_check_off() -> None:
    x = torch.tensor([-1.0, 4.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert not torch.autograd.is_anomaly_enabled()
        assert np.isnan(torch.sqrt(x).sum().item())  # silently NaN, as in PyTorch
        with torch.autograd.detect_anomaly(check_nan=False):
            assert np.isnan(torch.sqrt(x).sum().item())
        torch.autograd.set_detect_anomaly(True)
        try:
            with pytest.raises(RuntimeError, match="SqrtBackward0"):
                torch.sqrt(x)
        finally:
            torch.autograd.set_detect_anomaly(False)
    assert not torch.autograd.is_anomaly_enabled()


def render_page() -> str:
    """docs/bad_inputs.md, generated from CASES."""
    lines = [
        "# Bad inputs: the catalogue",
        "",
        "Every mistake below raises the exception shown, with a message containing the words",
        "shown, and leaves the state in the last column exactly as it was (checked by",
        "`tests/integration/test_bad_inputs.py`, which this page is generated from:",
        "`python tests/integration/test_bad_inputs.py --write`; a test fails if the two drift",
        "apart).",
        "Static-mode cases also check that a correct run still works afterwards.",
        "",
        f"{len(CASES)} cases.",
        "",
        "| case | mode | what the user did | exception | words in the message | "
        "state checked unchanged |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in CASES:
        words = "; ".join(f"`{w}`" for w in c.words).replace("|", "\\|")
        error = f"{c.error.__module__.replace('tapeflow.', '')}.{c.error.__qualname__}"
        if c.error.__module__ == "builtins":
            error = c.error.__qualname__
        lines.append(f"| `{c.id}` | {c.mode} | {c.did} | `{error}` | {words} | {c.state} |")
    lines += [
        "",
        "Notes:",
        "",
        "- Absurd sizes are refused before anything is allocated: a single tensor above",
        "  `runtime.memory.MAX_TENSOR_BYTES` (64 GiB; set `TAPEFLOW_MAX_TENSOR_BYTES` to change",
        "  it) raises in the dynamic creation ops and, in static mode, when the session compiles",
        "  the graph for the fed shapes.",
        "- The numerics check is opt-in: `tf.Session(options=tf.CompileOptions("
        "check_numerics=True))`",
        "  or `tf.debugging.enable_check_numerics()` (sessions created afterwards), and",
        "  `torch.autograd.detect_anomaly()` / `set_detect_anomaly(True)` in dynamic mode.",
        "- Command-line mistakes print one line to stderr and exit with status 2.",
        "",
    ]
    return "\n".join(lines)


def test_the_page_lists_every_case_as_the_table_says() -> None:
    assert PAGE.exists(), (
        "docs/bad_inputs.md is missing: python tests/integration/test_bad_inputs.py --write")
    assert PAGE.read_text() == render_page(), (
        "docs/bad_inputs.md is out of date: python tests/integration/test_bad_inputs.py --write")


if __name__ == "__main__":
    if "--write" in sys.argv:
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(render_page())
        print(f"wrote {PAGE} ({len(CASES)} cases)")
    else:
        print(render_page())
