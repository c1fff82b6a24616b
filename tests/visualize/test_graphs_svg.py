"""tapeflow.visualize: static graphs, folding, tapes, plots, the CLI command, Jupyter hooks."""

from __future__ import annotations

import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.compare import data
from tapeflow.compare.rnn_figure import rnn_padding_figure
from tapeflow.compare.rnn_static import RnnStatic
from tapeflow.compare.weights import rnn_weights, xor_weights
from tapeflow.compare.xor_dynamic import XorDynamic
from tapeflow.compare.xor_static import XorStatic
from tapeflow.visualize import (
    DotNotFoundError,
    Figure,
    dot_available,
    fold,
    recorded_forward,
    static_graph,
    tape,
)
from tapeflow.visualize.static_graph import select_nodes
from tapeflow.visualize.units import fmt_bytes

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str) -> list[str]:
    """Every text element of an SVG document (parsing it as XML on the way)."""
    root = ET.fromstring(svg.encode())
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def svg_classes(svg: str) -> set[str]:
    root = ET.fromstring(svg.encode())
    return {c for g in root.iter(f"{SVG}g") for c in g.get("class", "").split()}


@pytest.fixture(scope="module")
def xor_static() -> XorStatic:
    return XorStatic(xor_weights(0), 0.5, "float64")


@pytest.fixture
def xor_dynamic_loss() -> tuple[object, dict]:
    model = XorDynamic(xor_weights(0), 0.5, "float64")
    x, y = torch.tensor(data.XOR_INPUTS), torch.tensor(data.XOR_TARGETS)
    return model.loss_fn(model.model(x), y), dict(model.model.named_parameters())


def test_static_graph_dot_has_clusters_kinds_and_edge_shapes(xor_static: XorStatic) -> None:
    fig = static_graph(xor_static.graph, outputs=[xor_static.loss, xor_static.train_op])
    src = fig.source
    for text in ("forward", "backward (gradients)", "update (optimizer)", 'label="matmul"',
                 'label="float64(?, 5)"', "Sigmoid", "writes"):
        assert text in src, text
    assert "MatMul\\nmatmul" not in src  # a name that only repeats the op is not shown
    assert 'label="mean_squared_error\\nmean"' in src  # the loss, not TF1's "value"
    nodes = select_nodes(xor_static.graph, [xor_static.loss, xor_static.train_op])
    roles = {role: sum(1 for n in nodes if n.role == role) for role in ("forward", "backward",
                                                                         "update")}
    assert fig.info["roles"] == roles and min(roles.values()) > 0
    gradient_ops = sum(1 for n in nodes if n.role == "backward" and n.kind == "call")
    assert src.count('class="tf-gradient"') == gradient_ops
    assert set(fig.info["kinds"]) == {"placeholder", "variable", "const", "op", "gradient",
                                      "update"}


@needs_dot
def test_static_graph_svg_parses_with_labels_and_kind_classes(xor_static: XorStatic) -> None:
    svg = static_graph(xor_static.graph, outputs=[xor_static.loss, xor_static.train_op]).svg()
    texts = svg_texts(svg)
    for label in ("forward", "backward (gradients)", "update (optimizer)", "matmul", "x", "w1",
                  "float64(?, 2)", "float64(5, 2)"):
        assert label in texts, label
    assert {"tf-placeholder", "tf-variable", "tf-const", "tf-op", "tf-gradient",
            "tf-update"} <= svg_classes(svg)


def test_forward_only_drops_backward_and_update(xor_static: XorStatic) -> None:
    nodes = select_nodes(xor_static.graph, [xor_static.loss, xor_static.train_op], False)
    assert {n.role for n in nodes} == {"forward"}
    assert "backward (gradients)" not in static_graph(
        xor_static.graph, outputs=[xor_static.loss], backward=False).source


def test_memory_plan_colours_the_nodes_it_knows(xor_static: XorStatic) -> None:
    fetches = [xor_static.loss, xor_static.train_op]
    feed = {xor_static.x: data.XOR_INPUTS, xor_static.y: data.XOR_TARGETS}
    plan = xor_static.sess.plan(fetches, feed)
    src = static_graph(xor_static.graph, outputs=fetches, plan=plan).source
    drawn = {n.id for n in select_nodes(xor_static.graph, fetches)}
    planned = [i for i in plan.buffer_of if i in drawn and plan.buffer_of[i] in plan.offsets]
    assert planned and src.count("tf-buffer") == len(planned)
    node_id = planned[0]
    b = plan.buffer_of[node_id]
    first, last = plan.lifetimes[b]
    assert f"@ {fmt_bytes(plan.offsets[b])} +{fmt_bytes(plan.sizes[b])}\\nsteps {first}..{last}" \
        in src
    assert "same colour, same bytes reused" in src  # the legend explains it
    # one colour per arena offset: equal colours are the same bytes, and only those
    fill = {int(m[1]): m[2] for m in re.finditer(r'"n(\d+)" \[[^]]*fillcolor="(#\w+)"[^]]*'
                                                 r'tf-buffer', src)}
    by_offset = {plan.offsets[plan.buffer_of[i]]: set() for i in fill}
    for i, colour in fill.items():
        by_offset[plan.offsets[plan.buffer_of[i]]].add(colour)
    assert all(len(c) == 1 for c in by_offset.values())
    assert len({c.pop() for c in by_offset.values()}) == len(by_offset)


def test_fold_groups_repeated_rnn_steps_into_their_cell() -> None:
    model = RnnStatic(rnn_weights(0, "float64", 40, 16, 32), 0.1, "float64", (64,))
    graph = model.unrolled[64]
    nodes = select_nodes(model.graph, [graph["loss"], graph["train"]])
    folded = fold(nodes)
    assert len(nodes) > 2000 and len(folded) < 200
    by_id = {n.id: n for n in nodes}
    for members in folded.members.values():  # a group is one op in one role
        assert len({(by_id[i].op, by_id[i].role, by_id[i].kind) for i in members}) == 1
    sizes = sorted(len(m) for m in folded.members.values())
    assert sizes[-1] >= 60  # e.g. the tanh of every step but the first few
    # placeholders and variables never fold
    assert all(len(folded.members[i]) == 1 for i in folded.members
               if by_id[i].kind in ("placeholder", "variable"))


def test_fold_leaves_a_graph_without_repeats_alone(xor_static: XorStatic) -> None:
    nodes = select_nodes(xor_static.graph, [xor_static.loss, xor_static.train_op])
    assert len(fold(nodes)) == len(nodes)


@needs_dot
def test_rnn_t64_training_graph_renders_folded(tmp_path: Path) -> None:
    model = RnnStatic(rnn_weights(0, "float64", 40, 16, 32), 0.1, "float64", (64,))
    graph = model.unrolled[64]
    fig = static_graph(model.graph, outputs=[graph["loss"], graph["train"]])  # summarised
    assert fig.info["nodes"] > 2000 and fig.info["drawn"] <= 60
    assert fig.info["cells"] == {"forward": 64, "backward": 64}
    texts = svg_texts(fig.save(tmp_path / "rnn64.svg").read_text())
    assert "loop cell \u00d764" in texts and "gradient of the loop cell \u00d764" in texts
    assert "state to step t+1" in texts and "gradient to step t-1" in texts  # recurrences
    # click to expand: the ops inside the cells, each drawn once, in boxes marked x64
    expanded = static_graph(model.graph, outputs=[graph["loss"], graph["train"]],
                            expand_cells=True)
    assert fig.info["drawn"] < expanded.info["drawn"] <= 120
    texts = svg_texts(expanded.svg())
    assert any(t.startswith("loop cell \u00d764 (drawn once") for t in texts)
    assert "to step t+1" in texts and "to step t-1" in texts
    assert "tanh" in texts and "tanh_grad" in texts


def test_tape_before_and_after_backward(xor_dynamic_loss: tuple) -> None:
    loss, params = xor_dynamic_loss
    before = tape(loss, params, show_saved=True).source
    for text in ("MmBackward0", "SigmoidBackward0", "AccumulateGrad", "fc1.weight",
                 "grad: None", "saved\\nfloat64(4, 5)", 'label="float64(4, 5)"'):
        assert text in before, text
    loss.backward()
    after = tape(loss, params, show_saved=True).source
    assert "grad: float64(5, 2)" in after and "saved tensors freed" in after


def test_tape_shows_gradient_accumulation_into_a_leaf_used_twice() -> None:
    w = torch.ones(3, requires_grad=True)
    src = tape((w * w).sum(), {"w": w}).source
    assert "2 gradients summed" in src and "MulBackward0" in src and "SumBackward0" in src


def test_long_tapes_fold_their_repeated_steps() -> None:
    from tapeflow.compare.rnn_dynamic import RnnDynamic

    model = RnnDynamic(rnn_weights(0, "float64", 40, 16, 32), 0.1, "float64")
    tokens = torch.from_numpy(np.arange(1, 41, dtype=np.int64).reshape(1, 40) % 39 + 1)
    loss = model.loss_fn(model.model(tokens), torch.from_numpy(np.array([1])))
    params = dict(model.model.named_parameters())
    fig = tape(loss, params)  # more than AUTO_FOLD_TAPE nodes: folds on its own
    assert fig.info["nodes"] > 200 and fig.info["drawn"] < 40
    assert "TanhBackward0 \u00d740" in fig.source and "40 gradients summed" in fig.source
    forward = recorded_forward(loss, params)
    assert forward.info == fig.info and "tanh \u00d740" in forward.source
    unfolded = tape(loss, params, collapse=False)
    assert unfolded.info["drawn"] == unfolded.info["nodes"] == fig.info["nodes"]


def test_recorded_forward_graph(xor_dynamic_loss: tuple) -> None:
    loss, params = xor_dynamic_loss
    fig = recorded_forward(loss, params)
    src = fig.source
    for text in ("matmul", "sigmoid", "fc2.bias", "input\\nfloat64(4, 2)",
                 'label="float64(4, 5)"'):
        assert text in src, text
    assert fig.info["nodes"] >= 7


def test_rnn_padding_figure_counts() -> None:
    from tapeflow.compare.workload_graphs import build_workload, figure_batch

    workload = build_workload("rnn", "float64", 0)
    fig = rnn_padding_figure(workload)  # the workload's own graphs, the report's batch
    short, shown, long = fig.info["dynamic_ops"]
    assert short < shown < long < fig.info["static_ops"] and fig.info["padded"] == 40
    assert fig.info["cell_ops"] >= 8  # an Elman cell runs 12 ops per step, an LSTM's more
    batch = figure_batch(workload)
    index = next(k for k, b in enumerate(workload.batches) if b is batch)
    size, length = batch.tokens.shape
    src = fig.source
    assert src.count(' padding"') == 40 - length and f"{40 - length} padded steps" in src
    assert f"batch {index}: {size} x {length} words" in src and "dynamic, longest" in src


def test_missing_dot_gives_install_hint_and_dot_export_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)
    fig = Figure("digraph { a -> b }", "demo")
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz"):
        fig.svg()
    assert fig.save(tmp_path / "g.dot").read_text().startswith("digraph")
    with pytest.raises(ValueError, match=".svg or .dot"):
        fig.save(tmp_path / "g.png")


def test_cli_graph_without_dot_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tapeflow.compare.cli import main

    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)
    assert main(["graph", "xor", "--mode", "static", "-o", str(tmp_path / "g.svg")]) == 2
    assert "install Graphviz" in capsys.readouterr().err
    assert main(["graph", "xor", "--mode", "dynamic", "-o", str(tmp_path / "g.dot")]) == 0
    assert "AccumulateGrad" not in (tmp_path / "g.dot").read_text()  # forward graph only
    assert "sigmoid" in (tmp_path / "g.dot").read_text()


@needs_dot
@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_cli_graph_writes_svg(mode: str, tmp_path: Path) -> None:
    from tapeflow.compare.cli import main

    out = tmp_path / f"{mode}.svg"
    assert main(["graph", "xor", "--mode", mode, "--backward", "--memory", "-o", str(out)]) == 0
    texts = svg_texts(out.read_text())
    if mode == "static":
        assert "backward (gradients)" in texts and any(t.startswith("@ ") for t in texts)
    else:
        assert "AccumulateGrad" in texts and "saved" in texts


def test_plots_are_svg_with_labels(xor_static: XorStatic) -> None:
    from tapeflow.visualize import loss_curves, memory_timeline, trace_dynamic_step

    plan = xor_static.sess.plan([xor_static.loss, xor_static.train_op],
                                {xor_static.x: data.XOR_INPUTS, xor_static.y: data.XOR_TARGETS})
    model = XorDynamic(xor_weights(0), 0.5, "float64")
    trace = trace_dynamic_step(lambda: model.step(data.XOR_INPUTS, data.XOR_TARGETS))
    assert list(trace.phases) == ["forward", "backward", "update"]
    assert trace.ops[0] == "matmul" and len(trace.ops) == len(trace.live_bytes) > 10
    assert isinstance(trace.result, float)
    texts = " ".join(svg_texts(memory_timeline(plan, trace, title="xor step")))
    for label in ("xor step", "static schedule step", "dynamic kernel call", "lower bound",
                  "static naive, no reuse", "backward"):
        assert label in texts, label
    losses = loss_curves({"static": [1.0, 0.5, 0.25], "dynamic": [1.0, 0.5, 0.25 + 1e-9]},
                         reference="dynamic")
    texts = " ".join(svg_texts(losses))
    assert "static (max 4.0e-09)" in texts and "dynamic" in texts
    with pytest.raises(ValueError, match="needs a plan"):
        memory_timeline()


def test_jupyter_display_hooks(xor_dynamic_loss: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    jupyter = importlib.import_module("tapeflow.visualize.jupyter")
    registered: dict[str, object] = {}

    class Formatter:
        def for_type_by_name(self, module: str, name: str, fn: object) -> None:
            registered[f"{module}.{name}"] = fn

        def pop(self, key: str) -> object:
            return registered.pop(key)

    class Shell:
        class display_formatter:  # noqa: N801 - IPython's attribute name
            formatters = {"image/svg+xml": Formatter()}

    jupyter.load_ipython_extension(Shell())
    assert set(registered) == {"tapeflow.static.graph.Graph", "tapeflow.graphs.ir.Graph",
                               "tapeflow.dynamic.tensor.Tensor"}
    assert type(torch.ones(1)).__module__ + ".Tensor" in registered
    assert jupyter.svg_of(torch.ones(2)) is None  # no tape: the text repr stays
    monkeypatch.setattr("tapeflow.visualize.dot.shutil.which", lambda name: None)
    assert jupyter.svg_of(xor_dynamic_loss[0]) is None  # no dot: fall back to text
    jupyter.unload_ipython_extension(Shell())
    assert not registered
    with pytest.raises(RuntimeError, match="IPython"):
        jupyter.enable()  # a plain Python process (with or without IPython installed)


@needs_dot
def test_figures_have_repr_svg(xor_dynamic_loss: tuple) -> None:
    fig = tape(xor_dynamic_loss[0])
    svg = fig._repr_svg_()
    assert "MeanBackward0" in svg_texts(svg) and fig.svg() is svg  # rendered once, cached


def test_dtype_float32_labels() -> None:
    x = torch.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    assert "float32(2, 3)" in tape((x * 2).sum(), {"x": x}).source


def test_tracing_a_step_restores_an_active_profiler() -> None:
    import cProfile
    import sys

    from tapeflow.visualize import trace_dynamic_step

    calls: list[str] = []

    def outer(frame: object, event: str, arg: object) -> None:
        calls.append(event)

    sys.setprofile(outer)
    try:
        trace_dynamic_step(lambda: (torch.ones(2, requires_grad=True) * 2).sum().backward())
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        trace = trace_dynamic_step(lambda: (torch.ones(2, requires_grad=True) * 2).sum())
        assert sys.getprofile() is profiler  # cProfile is switched back on
    finally:
        profiler.disable()
    assert trace.ops == ["mul", "sum"]
