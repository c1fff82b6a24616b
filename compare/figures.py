"""Every figure of the report by name: ``tapeflow figure NAME --workload W -o FILE``.

Each figure is drawn exactly as the report draws it, for the same batch
(:func:`~tapeflow.compare.workload_graphs.figure_batch`), so a figure in the report and
the file this command writes are the same picture.

Example:
    >>> sorted(FIGURES)[:3]
    ['dynamic-forward', 'memory', 'padding']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _static_graph(workload: Any) -> Any:
    from .workload_graphs import static_figure

    return static_figure(workload, backward=True, memory=True, collapse=True)


def _static_forward(workload: Any) -> Any:
    from .workload_graphs import static_figure

    return static_figure(workload, backward=False, memory=False)


def _dynamic_forward(workload: Any) -> Any:
    from .workload_graphs import dynamic_figure

    return dynamic_figure(workload, backward=False, memory=False)


def _tape(workload: Any) -> Any:
    from .workload_graphs import dynamic_figure

    return dynamic_figure(workload, backward=True, memory=True)


def _memory(workload: Any) -> str:
    from ..visualize.memory_chart import memory_plan_chart
    from .workload_graphs import describe_batch, figure_batch, static_training_step, trace_dynamic

    batch = figure_batch(workload)
    trainer, fetches, feed = static_training_step(workload, batch)
    _, trace = trace_dynamic(workload, batch)
    return memory_plan_chart(trainer.sess.plan(fetches, feed), trace,
                             title=f"{workload.name}: one training step, "
                                   f"{describe_batch(workload, batch)}")


def _padding(workload: Any) -> Any:
    from .rnn_figure import rnn_padding_figure

    if workload.name != "rnn":
        raise ValueError("the padding figure is about the RNN: use --workload rnn")
    return rnn_padding_figure(workload)


def _static_while(workload: Any) -> Any:
    from .workload_graphs import while_figure

    if workload.name != "rnn":
        raise ValueError("the static-while graph is the RNN's graph with a loop in it: use "
                         "--workload rnn")
    return while_figure(workload, backward=True, memory=True, collapse=True)


def _player(workload: Any) -> str:
    from .players import player_page_for

    return player_page_for(workload.name)


def _storage(workload: Any) -> Any:
    from ..visualize.storage import storage_example

    return storage_example()


FIGURES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "static-graph": ("the static training graph, summarised, coloured by arena offset",
                     _static_graph),
    "static-forward": ("the static forward graph (batch ?)", _static_forward),
    "dynamic-forward": ("the forward graph the tape recorded for the report's batch",
                        _dynamic_forward),
    "tape": ("the autograd tape after backward, with saved tensors", _tape),
    "memory": ("the memory plan as an offset-by-step chart beside the dynamic step", _memory),
    "padding": ("why static graphs pad (RNN only)", _padding),
    "static-while": ("the static-while training graph, each loop a box holding its body "
                     "(RNN only)", _static_while),
    "player": ("the tape player: one training step op by op (HTML)", _player),
    "tensor-storage": ("views sharing one storage: shape, strides, offset, raw data "
                       "(any workload)", _storage),
}


def write_figure(name: str, workload: str, output: Path, dtype: str = "float64",
                 seed: int = 0) -> Path:
    """Draws figure ``name`` of ``workload`` into ``output``; returns the path."""
    from .workload_graphs import build_workload

    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
    drawn = FIGURES[name][1](build_workload(workload, dtype, seed))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(drawn, str):
        output.write_text(drawn)
        return output
    return drawn.save(output)
