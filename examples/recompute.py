"""Trading compute for memory: keep some forward values, recompute the rest in backward.

A training step holds every forward value its backward pass reads (here each step's RNN
state) from the moment it is made until the backward reaches it, so memory grows with the
sequence length. Chen et al. (2016) keep only every k-th of them (k = sqrt(n)) and rebuild
the others, one segment at a time, when the backward needs them: about one extra forward
pass buys memory that grows like sqrt(n).

1. Static mode: RNN-large (Elman tanh, B=64, T=50, D=128, H=512) trained with
   ``CompileOptions(recompute="sqrt")`` and without it, both with the default options
   otherwise: the planned arenas, the step times (CPU time, the two runs interleaved), the
   recomputation nodes the compiler added, and the losses, equal bit for bit.
2. Memory against compute: byte budgets between the two, each met with the fewest
   recomputations (``CompileOptions(recompute=<bytes>)``).
3. Dynamic mode: ``torch.utils.checkpoint`` around segments of the time loop, the peak
   traced memory of a step with and without it, and the gradients, equal bit for bit.

It runs in about ten seconds; ``--small`` trains a small RNN instead, in two.

Run: ``.venv/bin/python examples/recompute.py [--small]``
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

# one BLAS thread (before numpy loads its BLAS): on a busy machine a multithreaded GEMM
# stalls, and the step times would measure that instead of the recomputation
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import tapeflow.dynamic as torch  # noqa: E402
import tapeflow.static as tf  # noqa: E402
from tapeflow.dynamic.utils.checkpoint import checkpoint  # noqa: E402
from tapeflow.static.compiler import CompileOptions  # noqa: E402

SMALL = {"batch": 16, "steps": 40, "features": 32, "hidden": 128}
LARGE = {"batch": 64, "steps": 50, "features": 128, "hidden": 512}


def data(size: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    d, h = size["features"], size["hidden"]
    u = lambda *s: rng.uniform(-1 / math.sqrt(h), 1 / math.sqrt(h), s).astype(np.float32)  # noqa: E731
    weights = {"w_ih": u(d, h), "w_hh": u(h, h), "b": u(h), "w_out": u(h, 2)}
    x = rng.standard_normal((size["batch"], size["steps"], d)).astype(np.float32)
    return weights, x, rng.integers(0, 2, size["batch"])


def build(size: dict) -> tuple[tf.Graph, Any, list[Any], dict[Any, Any]]:
    """The RNN's training graph: (graph, initializer, [loss, train op], feed)."""
    weights, x_value, y_value = data(size)
    graph = tf.Graph()
    with graph.as_default():
        v = {k: tf.Variable(w, name=k) for k, w in weights.items()}
        x = tf.placeholder(tf.float32, x_value.shape, name="x")
        y = tf.placeholder(tf.int64, y_value.shape, name="labels")
        state = tf.zeros((size["batch"], size["hidden"]), dtype=tf.float32)
        for t in range(size["steps"]):
            state = tf.tanh(tf.matmul(x[:, t, :], v["w_ih"]) + tf.matmul(state, v["w_hh"])
                            + v["b"])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=tf.matmul(state, v["w_out"])))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    return graph, init, [loss, train], {x: x_value, y: y_value}


def static_runs(size: dict, settings: tuple[Any, ...], iterations: int) -> list[dict]:
    """Trains the RNN once per ``recompute`` setting, the sessions' steps interleaved (a slow
    spell of a shared machine then hits all of them alike)."""
    graph, init, (loss, train), feed = build(size)
    sessions = [tf.Session(graph=graph, options=CompileOptions(recompute=s)) for s in settings]
    runs = []
    for sess in sessions:
        sess.run(init)
        plan = sess.plan([loss, train], feed)
        plan.validate()  # no two buffers alive at one step share bytes
        runs.append({"plan": plan, "arena": plan.arena_bytes, "losses": [], "times": [],
                     # a clone's name ends in /recompute (compiler/recompute.py)
                     "recomputed": sum(name.endswith("/recompute")
                                       for name in plan.names.values()),
                     "steps": len(plan.steps)})
    for _ in range(iterations):
        for sess, run in zip(sessions, runs, strict=True):
            # CPU time: on a shared machine, other programs' turns would swamp a short step
            start = time.process_time()
            run["losses"].append(sess.run([loss, train], feed)[0])
            run["times"].append(time.process_time() - start)
    for sess, run in zip(sessions, runs, strict=True):
        sess.close()
        run["time"] = statistics.median(run["times"][1:])
    return runs


def tradeoff(size: dict, points: int = 6) -> list[tuple[str, int, int]]:
    """Memory against compute: (setting, arena bytes, kernel calls) for byte budgets from
    the plain arena down to the smallest one recomputation reaches."""
    graph, init, fetches, feed = build(size)
    plans = {}
    for setting in (None, "sqrt", 1):
        with tf.Session(graph=graph, options=CompileOptions(recompute=setting)) as sess:
            plans[setting] = sess.plan(fetches, feed)
    top, bottom = plans[None].arena_bytes, plans[1].arena_bytes
    rows = [("keep everything", top, len(plans[None].steps))]
    for k in range(1, points):
        budget = int(top - (top - bottom) * k / (points - 1))
        with tf.Session(graph=graph, options=CompileOptions(recompute=budget)) as sess:
            plan = sess.plan(fetches, feed)
        rows.append((f"budget {budget / 1e6:.3f} MB", plan.arena_bytes, len(plan.steps)))
    rows.append(('"sqrt"', plans["sqrt"].arena_bytes, len(plans["sqrt"].steps)))
    return rows


def dynamic_run(size: dict, segment: int | None) -> tuple[int, np.ndarray]:
    weights, x_value, y_value = data(size)
    p = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
    x, y = torch.from_numpy(x_value), torch.from_numpy(y_value)

    def run(state, first, last):
        for t in range(first, last):
            state = torch.tanh(x[:, t] @ p["w_ih"] + state @ p["w_hh"] + p["b"])
        return state

    tracemalloc.start()
    state = torch.zeros(size["batch"], size["hidden"])
    every = segment or size["steps"]
    for first in range(0, size["steps"], every):
        last = min(first + every, size["steps"])
        state = (checkpoint(run, state, first, last, use_reentrant=False) if segment
                 else run(state, first, last))
    torch.nn.functional.cross_entropy(state @ p["w_out"], y).backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, p["w_hh"].grad.numpy().copy()


def main() -> None:
    parser = argparse.ArgumentParser(description="recomputation in both modes")
    parser.add_argument("--small", action="store_true", help="a small RNN, a quick check")
    parser.add_argument("--iterations", type=int, default=8)
    args = parser.parse_args()
    size = SMALL if args.small else LARGE
    print(f"Elman RNN, B={size['batch']} T={size['steps']} D={size['features']} "
          f"H={size['hidden']}, float32, {args.iterations} SGD steps\n")

    # default options otherwise: dot_merge runs its weight-gradient products in blocks of
    # about sqrt(T) steps, the segments that recomputation rebuilds one at a time
    plain, again = static_runs(size, (None, "sqrt"), args.iterations)
    print("static mode, default options (Session.plan's arena; median CPU time of a step)")
    for name, r in (("keep everything", plain), ('recompute="sqrt"', again)):
        print(f"  {name:<17} arena {r['arena'] / 1e6:7.3f} MB   step {r['time'] * 1e3:7.1f} ms"
              f"   {r['steps']} kernel calls, {r['recomputed']} buffers of recomputed values")
    print(f"  arena ratio {again['arena'] / plain['arena']:.2f}x, "
          f"step time ratio {again['time'] / plain['time']:.2f}x")
    same = plain["losses"] == again["losses"]
    print(f"  losses {[round(float(v), 6) for v in plain['losses'][:4]]}...: "
          f"bit-identical: {same}")
    from tapeflow.visualize.memory_chart import memory_plan_chart

    chart = Path(tempfile.mkdtemp()) / "recompute_plan.svg"
    chart.write_text(memory_plan_chart(again["plan"], title="recompute='sqrt'"))
    print(f"  the recomputing plan, recomputed buffers hatched: {chart}\n")

    print("memory against compute (the fewest recomputations that fit each budget)")
    rows = tradeoff(size)
    base_calls = rows[0][2]
    for name, arena, calls in rows:
        print(f"  {name:<20} arena {arena / 1e6:7.3f} MB   {calls} kernel calls "
              f"(+{100 * (calls - base_calls) / base_calls:.0f} %)")
    print()

    segment = round(math.sqrt(size["steps"]))
    peak0, grad0 = dynamic_run(size, None)
    peak1, grad1 = dynamic_run(size, segment)
    print("dynamic mode (tracemalloc peak over one forward + backward)")
    print(f"  plain loop                       {peak0 / 1e6:7.3f} MB")
    print(f"  checkpoint every {segment} steps          {peak1 / 1e6:7.3f} MB"
          f"   ratio {peak1 / peak0:.2f}x")
    print(f"  w_hh gradient bit-identical: {np.array_equal(grad0, grad1)}")


if __name__ == "__main__":
    main()
