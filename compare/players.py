"""The tape players of the report: one XOR training step, op by op, in both styles.

Dynamic: the model of ``examples/xor_dynamic.py`` runs one step; each op appears in the
order it was recorded on the tape, with the value it computed; then backward visits the
tensors in the order the real backward pass reached them (read with gradient hooks), each
with its gradient. Static: the same model built as a graph (``examples/xor_static.py``)
is compiled once; the whole schedule exists before the step, and the run then highlights
each kernel in schedule order with where its result lives in the arena, and whose bytes
it reuses.

Example:
    >>> # write_players(Path("out"))  # [out/player_dynamic.html, out/player_static.html]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..visualize.player import Frame, Row, player_page
from ..visualize.units import fmt_bytes

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
LR = 0.5


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)  # as in the two examples
    return {"w1": rng.uniform(-1, 1, (2, 5)).astype(np.float32), "b1": np.zeros(5, np.float32),
            "w2": rng.uniform(-1, 1, (5, 2)).astype(np.float32), "b2": np.zeros(2, np.float32)}


def show(value: Any) -> str:
    """Small arrays in full (4 significant digits); large ones as shape and statistics."""
    array = np.asarray(value)
    if array.size <= 24:
        return np.array2string(array, precision=4, suppress_small=True, separator=", ")
    return (f"shape {array.shape}: mean {array.mean():.4g}, std {array.std():.4g}, "
            f"min {array.min():.4g}, max {array.max():.4g}")


def dynamic_player() -> str:
    """The dynamic step's page."""
    import tapeflow.dynamic as torch

    w = _weights()
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in w.items()}
    x, y = torch.tensor(XOR_X), torch.tensor(XOR_Y)
    rows = [Row("x", "x  (the 4 XOR inputs)", "data"), Row("y", "y  (one-hot targets)", "data")]
    rows += [Row(k, f"{k}  (parameter)", "leaf, requires_grad") for k in leaves]
    frames = [Frame("x", show(x.numpy()), "the data: plain tensors, no tape yet"),
              Frame("y", show(y.numpy()), "the targets")]
    frames += [Frame(k, show(v), f"the parameter {k}: a leaf tensor that requires grad")
               for k, v in w.items()]
    program = [("z1", "z1 = x @ w1", lambda t: x @ leaves["w1"]),
               ("a1", "a1 = z1 + b1", lambda t: t["z1"] + leaves["b1"]),
               ("h", "h = sigmoid(a1)", lambda t: torch.sigmoid(t["a1"])),
               ("z2", "z2 = h @ w2", lambda t: t["h"] @ leaves["w2"]),
               ("out", "out = z2 + b2", lambda t: t["z2"] + leaves["b2"]),
               ("diff", "diff = out - y", lambda t: t["out"] - y),
               ("sq", "sq = diff ** 2", lambda t: t["diff"] ** 2),
               ("loss", "loss = sq.mean()", lambda t: t["sq"].mean())]
    values: dict[str, Any] = {}
    visits: list[tuple[str, np.ndarray]] = []
    for key, text, run in program:
        values[key] = run(values)
        node = values[key].grad_fn
        rows.append(Row(key, text, f"recorded as {node.name()}"))
        frames.append(Frame(key, show(values[key].detach().numpy()),
                            f"runs now and records {node.name()} on the tape "
                            f"(tape length {len([f for f in frames if f.row in values])})"))
    for key, tensor in [*values.items(), *leaves.items()]:
        tensor.register_hook(lambda g, key=key: visits.append((key, g.numpy().copy())))
    values["loss"].backward()
    for key, grad in visits:
        where = "AccumulateGrad adds it into .grad" if key in leaves else "sent on"
        frames.append(Frame(key, show(grad), f"backward reaches {key}: d loss / d {key} "
                                             f"({where})", column="grad"))
    intro = ("<p>One training step of <code>examples/xor_dynamic.py</code> (float32, step "
             "0). <b>Forward</b>: each line runs at once and appends one node to the tape, "
             "with its value. <b>Backward</b>: <code>loss.backward()</code> walks the tape in "
             "reverse; each tensor lights up when its gradient arrives. After this, "
             "<code>optimizer.step()</code> moves each parameter by "
             f"-{LR} x its gradient, and the tape is dropped.</p>")
    return player_page("The tape player: one dynamic step", intro, rows, frames)


def static_player() -> str:
    """The static step's page: the compiled schedule, then its run."""
    import tapeflow.static as tf

    w = _weights()
    with tf.Graph().as_default() as graph:
        x = tf.placeholder(tf.float32, shape=[None, 2], name="x")
        y = tf.placeholder(tf.float32, shape=[None, 2], name="y")
        var = {k: tf.Variable(v, name=k) for k, v in w.items()}
        output = tf.matmul(tf.sigmoid(tf.matmul(x, var["w1"]) + var["b1"]), var["w2"]) + var["b2"]
        loss = tf.reduce_mean(tf.square(output - y))
        train = tf.train.GradientDescentOptimizer(LR).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    plan = sess.plan([loss, train], {x: XOR_X, y: XOR_Y})
    rows, frames = [], []
    last_user: dict[int, tuple[int, str]] = {}  # arena offset -> (last step, buffer name)
    for k, step in enumerate(plan.steps):
        name = plan.names.get(step.buffer, "") if step.buffer is not None else ""
        rows.append(Row(f"s{k}", step.op, f"schedule step {k}"))
        frames.append(Frame(f"s{k}", _where(step, last_user, name), _caption(step, k),
                            note=_lifetime(step, k)))
        if step.offset is not None and step.where == "arena":
            last_user[step.offset] = (step.last, name)
    value = sess.run(loss, {x: XOR_X, y: XOR_Y})
    intro = ("<p>The same model as <code>examples/xor_static.py</code>. The graph was "
             "<b>built once</b> and compiled: all "
             f"{len(plan.steps)} kernels of a training step, and where each result lives in "
             f"one arena of {fmt_bytes(plan.arena_bytes)} (no reuse would need "
             f"{fmt_bytes(plan.naive_bytes)}), are known before any data arrives. The run "
             f"then walks the schedule; nothing is recorded and nothing is decided. (This "
             f"step's loss: {float(value):.6f}.)</p>")
    return player_page("The schedule player: one static step", intro, rows, frames,
                       columns=("#", "kernel", "result lives in", "lifetime"),
                       start_hidden=False)


def _where(step: Any, last_user: dict[int, tuple[int, str]], name: str) -> str:
    if step.where == "inplace":
        return f"in place: overwrites its input at arena offset {fmt_bytes(step.offset)}"
    if step.where == "view":
        return "a view: no bytes of its own"
    if step.where == "arena":
        text = f"arena @ {fmt_bytes(step.offset)}, {fmt_bytes(step.nbytes)} ({name})"
        before = last_user.get(step.offset)
        if before is not None and before[0] < step.first:
            text += f"; reuses the bytes of {before[1]} (dead since step {before[0]})"
        return text
    return "a fresh array (fetched or written to a variable)"


def _caption(step: Any, k: int) -> str:
    return f"step {k} of the compiled schedule runs {step.op}: no Python per op, no tape"


def _lifetime(step: Any, k: int) -> str:
    if step.where == "view":
        return "shares its input's bytes"
    if step.last > k:
        return f"alive until step {step.last}; then its bytes are free for later results"
    return "used once, right away"


def player_page_for(workload: str) -> str:
    """The dynamic player (the XOR step; other workloads are too large to read op by op)."""
    if workload != "xor":
        raise ValueError("the tape player plays the XOR step: use --workload xor")
    return dynamic_player()


def write_players(out_dir: Path) -> list[Path]:
    """Both pages into ``out_dir``; returns their paths."""
    paths = [Path(out_dir) / "player_dynamic.html", Path(out_dir) / "player_static.html"]
    paths[0].write_text(dynamic_player())
    paths[1].write_text(static_player())
    return paths
