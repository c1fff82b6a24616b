"""What the static compiler buys: memory-plan sizes and the XOR step time, in one run.

Builds three training graphs with the TF1-style API (forward + backward + SGD):

* XOR: 2-5-2 sigmoid network, mean squared error, batch 4;
* Elman RNN (tanh), unrolled over T steps, softmax cross-entropy, at
  B=32, T=20, D=32, H=128 and B=64, T=50, D=128, H=512;

and prints, for each, ``naive_bytes`` (every buffer its own memory), ``arena_bytes`` (the
plan), ``lower_bound_bytes`` (most bytes alive at one step) and their ratios, then the XOR
training step through ``Session.run`` with the plain interpreter and with the compiled
executor (medians over repeats, measured in this one process, and their ratio), and checks
that planned, unplanned and interpreted training give the same numbers.

Run: ``.venv/bin/python benchmarks/bench_compiler.py`` (``--repeats N`` to change the
number of timed steps). BLAS runs on one thread unless ``OPENBLAS_NUM_THREADS`` is set.
``--cache-growth N`` instead feeds one Session N batch sizes (a new program each) and prints
the programs it keeps and its resident memory along the way: the compile cache is bounded
(``CompileOptions.max_cached_programs``), so RSS must level off.
``--scaling`` instead prints compile time against graph size (issue 25): Elman RNN training
graphs (B=8, D=8, H=32) unrolled over T=50..1600 and a 100,000-op tanh chain; for each, the
graph's ops, the build time, the compile time (first ``Session.run`` less a second one) and
milliseconds per op (target <= 0.1 at every size). ``--scaling-max N`` stops at N ops.
The targets: arena <= 1.05 x lower bound on all three graphs, arena <= 0.5 x naive on
both RNNs, compiled XOR step >= 2x faster than interpreted.
"""

from __future__ import annotations

import os

# One BLAS thread unless told otherwise: on a small shared machine, BLAS worker threads
# waking up between kernels dominate the step time of both modes and make it noisy.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tapeflow.static as tf  # noqa: E402
from tapeflow.static import CompileOptions  # noqa: E402

INTERPRETED = CompileOptions(optimize=False, plan_memory=False)
COMPILED = CompileOptions()
UNPLANNED = CompileOptions(plan_memory=False)


def xor_model(options: CompileOptions, seed: int = 0) -> tuple[Any, Callable[[], Any], Any]:
    """A session on the XOR training graph and a function running one training step."""
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
        y = tf.placeholder(tf.float32, shape=(None, 2), name="y")
        w1 = tf.Variable(rng.normal(size=(2, 5)).astype(np.float32), name="w1")
        b1 = tf.Variable(np.zeros(5, np.float32), name="b1")
        w2 = tf.Variable(rng.normal(size=(5, 2)).astype(np.float32), name="w2")
        b2 = tf.Variable(np.zeros(2, np.float32), name="b2")
        hidden = tf.sigmoid(tf.matmul(x, w1) + b1)
        output = tf.sigmoid(tf.matmul(hidden, w2) + b2)
        loss = tf.reduce_mean(tf.square(output - y))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    targets = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float32)
    feed = {x: inputs, y: targets}
    fetches = [loss, train]
    return sess, lambda: sess.run(fetches, feed), (fetches, feed)


def rnn_model(batch: int, steps: int, features: int, hidden: int, classes: int = 2,
              seed: int = 0, options: CompileOptions = COMPILED) -> tuple[Any, Any]:
    """A session on an Elman RNN training graph, and the (fetches, feed) of one step."""
    rng = np.random.default_rng(seed)

    def init(*shape: int) -> np.ndarray:
        bound = 1 / np.sqrt(shape[0])
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(None, steps, features), name="x")
        labels = tf.placeholder(tf.int64, shape=(None,), name="labels")
        w_ih, w_hh = tf.Variable(init(features, hidden)), tf.Variable(init(hidden, hidden))
        b_h = tf.Variable(np.zeros(hidden, np.float32))
        w_out = tf.Variable(init(hidden, classes))
        b_out = tf.Variable(np.zeros(classes, np.float32))
        state = tf.tanh(tf.matmul(x[:, 0, :], w_ih) + b_h)
        for t in range(1, steps):
            state = tf.tanh(tf.matmul(x[:, t, :], w_ih) + tf.matmul(state, w_hh) + b_h)
        logits = tf.matmul(state, w_out) + b_out
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        initializer = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(initializer)
    feed = {x: rng.normal(size=(batch, steps, features)).astype(np.float32),
            labels: rng.integers(0, classes, size=batch)}
    return sess, ([loss, train], feed)


def plan_row(name: str, plan: Any) -> dict[str, Any]:
    plan.validate()
    row = {"graph": name, "steps": len(plan.steps), "buffers": len(plan.sizes),
           "naive": plan.naive_bytes, "arena": plan.arena_bytes,
           "lower_bound": plan.lower_bound_bytes}
    row["arena/lower_bound"] = row["arena"] / max(row["lower_bound"], 1)
    row["arena/naive"] = row["arena"] / max(row["naive"], 1)
    return row


def median_times(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 20
                 ) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved so noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()  # warm up (and compile)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cache_growth(sizes: int) -> None:
    """One Session fed ``sizes`` batch sizes (a program each), with the default bound and
    then with none: the programs kept and this process's RSS along the way.

    The model is narrow (8 features), so a program's arrays stay small whatever the batch
    size and RSS shows what each kept program costs.
    """
    import warnings

    rng = np.random.default_rng(0)
    for limit in (CompileOptions().max_cached_programs, None):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, 8], name="x")
            w = tf.Variable(rng.normal(size=(8, 8)).astype(np.float32), name="w")
            loss = tf.reduce_mean(tf.tanh(tf.matmul(tf.tanh(tf.matmul(x, w)), w)))
            step = tf.train.GradientDescentOptimizer(1e-3).minimize(loss)
            sess = tf.Session(options=CompileOptions(max_cached_programs=limit))
            sess.run(tf.global_variables_initializer())
        gc.collect()
        start = rss_mib()
        print(f"\nmax_cached_programs={limit}: batch sizes fed, programs kept, RSS growth")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the cache warns once that it keeps evicting
            for rows in range(1, sizes + 1):
                sess.run([loss, step], {x: np.ones((rows, 8), np.float32)})
                if rows % max(sizes // 8, 1) == 0 or rows == sizes:
                    gc.collect()
                    print(f"{rows:>8} {len(sess._cache):>8} {rss_mib() - start:>+9.1f} MiB")
        del sess
        gc.collect()


def tanh_chain(length: int) -> tuple[Any, tuple[Any, Any]]:
    """A session on ``length`` tanh ops in a row, and the (fetch, feed) of one run."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=(4,), name="x")
        y = x
        for _ in range(length):
            y = tf.tanh(y)
    return tf.Session(graph=graph), (y, {x: np.ones(4, np.float32)})


def scaling(max_ops: int) -> None:
    """Compile time against graph size: one row per graph, each built and compiled once."""
    print(f"{'graph':<22}{'ops':>8}{'build s':>10}{'compile s':>11}{'ms/op':>8}")
    builds = [(f"rnn T={t}", lambda t=t: rnn_model(8, t, 8, 32))
              for t in (50, 100, 200, 400, 800, 1600)]
    builds.append(("tanh chain 100000", lambda: tanh_chain(100_000)))
    for name, build in builds:
        start = time.perf_counter()
        sess, (fetches, feed) = build()
        built = time.perf_counter() - start
        ops = len(sess.graph.get_operations())
        if ops > max_ops:
            break
        start = time.perf_counter()
        sess.run(fetches, feed)  # compiles, then runs once
        first = time.perf_counter() - start
        start = time.perf_counter()
        sess.run(fetches, feed)
        compiled = first - (time.perf_counter() - start)
        print(f"{name:<22}{ops:>8}{built:>10.3f}{compiled:>11.3f}{compiled / ops * 1e3:>8.3f}")
        del sess
        gc.collect()  # (the next row's compile should not pay to scan this one's objects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2000, help="timed XOR steps per mode")
    parser.add_argument("--cache-growth", type=int, default=0, metavar="N",
                        help="only feed one Session N batch sizes and print RSS")
    parser.add_argument("--scaling", action="store_true",
                        help="only print compile time against graph size")
    parser.add_argument("--scaling-max", type=int, default=200_000, metavar="N",
                        help="with --scaling, skip graphs of more than N ops")
    args = parser.parse_args()
    if args.scaling:
        scaling(args.scaling_max)
        return
    if args.cache_growth:
        cache_growth(args.cache_growth)
        return

    rows, rnn_times = [], []
    sess, _, (fetches, feed) = xor_model(COMPILED)
    rows.append(plan_row("xor B=4", sess.plan(fetches, feed)))
    for b, t, d, h in [(32, 20, 32, 128), (64, 50, 128, 512)]:
        name = f"rnn B={b} T={t} D={d} H={h}"
        sess, (fetches, feed) = rnn_model(b, t, d, h)
        rows.append(plan_row(name, sess.plan(fetches, feed)))
        steps = {}
        for mode, options in [("interpreted", INTERPRETED), ("compiled", COMPILED)]:
            s, (f, fd) = rnn_model(b, t, d, h, options=options)
            steps[mode] = lambda s=s, f=f, fd=fd: s.run(f, fd)
        rnn_times.append((name, median_times(steps, max(10, args.repeats // (25 * t)), 2)))
    print(f"{'graph':<28}{'steps':>6}{'buffers':>8}{'naive_bytes':>13}{'arena_bytes':>13}"
          f"{'lower_bound':>13}{'arena/lb':>10}{'arena/naive':>12}")
    for r in rows:
        print(f"{r['graph']:<28}{r['steps']:>6}{r['buffers']:>8}{r['naive']:>13}{r['arena']:>13}"
              f"{r['lower_bound']:>13}{r['arena/lower_bound']:>10.3f}{r['arena/naive']:>12.3f}")

    # the same 200 training steps in three modes must agree
    losses = {}
    for mode, options in [("interpreted", INTERPRETED), ("compiled", COMPILED),
                          ("unplanned", UNPLANNED)]:
        _, step, _ = xor_model(options)
        losses[mode] = np.array([step()[0] for _ in range(200)])
    same_plan = np.array_equal(losses["compiled"], losses["unplanned"])
    gap = float(np.max(np.abs(losses["compiled"] - losses["interpreted"])))
    print(f"\nXOR, 200 SGD steps: planned == unplanned bit for bit: {same_plan}; "
          f"max |compiled - interpreted| loss difference: {gap:.3g}; "
          f"final loss {losses['compiled'][-1]:.6f}")

    sessions, steps = {}, {}
    for mode, options in [("interpreted", INTERPRETED), ("compiled", COMPILED),
                          ("unplanned", UNPLANNED)]:
        sessions[mode], steps[mode], _ = xor_model(options)
    timings: dict[str, Any] = median_times(steps, args.repeats)
    timings["compiled compiles"] = sessions["compiled"].compile_count
    print(f"\nBLAS threads: {os.environ['OPENBLAS_NUM_THREADS']} (OPENBLAS_NUM_THREADS)")
    print(f"XOR step via Session.run, median of {args.repeats}: "
          f"interpreted {timings['interpreted'] * 1e6:.1f} us, "
          f"compiled {timings['compiled'] * 1e6:.1f} us, "
          f"compiled without a plan {timings['unplanned'] * 1e6:.1f} us; "
          f"speed-up interpreted/compiled = {timings['interpreted'] / timings['compiled']:.2f}x "
          f"(compilations per session: {timings['compiled compiles']})")
    for name, times in rnn_times:
        print(f"{name} training step via Session.run: interpreted "
              f"{times['interpreted'] * 1e3:.1f} ms, compiled {times['compiled'] * 1e3:.1f} ms, "
              f"ratio {times['interpreted'] / times['compiled']:.2f}x")


if __name__ == "__main__":
    main()
