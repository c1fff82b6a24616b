"""The workloads, each in every style, behind one small interface the harness drives.

A workload knows its data, its initial weights (one seed for every style) and how to
build a trainer for each mode. A trainer has ``step(batch) -> loss`` and
``predict(batch)``; the harness times and measures them the same way for every mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import data
from .weights import rnn_weights, xor_weights


@dataclass
class Mode:
    name: str  # "static", "dynamic", "static-padded", ...
    style: str  # "static" or "dynamic"
    make: Callable[[], Any]  # builds the trainer
    source: Any  # the class whose code is shown in the report
    graph_length: Callable[[Any], int] | None = None  # time steps a batch is run for


@dataclass
class Workload:
    name: str
    batches: list[Any]  # step i trains on batches[i % len(batches)]
    modes: list[Mode]
    reference: str  # the mode every other one is checked against
    step_args: Callable[[Any], tuple[Any, ...]] = lambda batch: (batch,)
    labels_of: Callable[[Any], np.ndarray] = lambda batch: batch.labels
    info: dict[str, Any] = field(default_factory=dict)
    held_out: list[Any] | None = None  # batches never trained on (accuracy reported apart)
    exact: bool = False  # static modes compiled with CompileOptions(exact=True)

    def source_of(self, mode: Mode) -> str:
        return inspect.getsource(inspect.getmodule(mode.source))


def _cpu_only(mode: Mode) -> list[Mode]:
    """``[mode]`` on the CPU; none on the GPU, where traced graphs do not run yet."""
    from ..runtime import canonical_device

    return [mode] if canonical_device() == "cpu" else []


def compile_options(exact: bool) -> Any:
    """The static modes' CompileOptions: None (the defaults), or with ``exact`` on, the
    options under which static mode does dynamic mode's arithmetic in dynamic mode's order
    (no GEMM merging, no transposed copies: see static/compiler/options.py)."""
    if not exact:
        return None
    from ..static import CompileOptions

    return CompileOptions(exact=True)


def xor(dtype: str, seed: int, lr: float = 0.5, exact: bool = False) -> Workload:
    from .xor_dynamic import XorDynamic
    from .xor_static import XorStatic
    from .xor_traced import XorTraced

    weights = xor_weights(seed, dtype)
    options = compile_options(exact)
    batch = (data.XOR_INPUTS.astype(dtype), data.XOR_TARGETS.astype(dtype))
    return Workload(
        name="xor",
        batches=[batch],
        modes=[
            Mode("static", "static", lambda: XorStatic(weights, lr, dtype, options), XorStatic),
            Mode("dynamic", "dynamic", lambda: XorDynamic(weights, lr, dtype), XorDynamic),
            *_cpu_only(
                Mode("traced", "static", lambda: XorTraced(weights, lr, dtype, options), XorTraced)
            ),
        ],
        reference="dynamic",
        step_args=lambda b: b,
        labels_of=lambda b: data.XOR_CLASSES,
        info={"network": "2-5-2, sigmoid hidden layer, MSE, SGD", "lr": lr},
        exact=exact,
    )


RNN_BUCKETS = (10, 20, 30, 40)
RNN_BATCHES_PER_LENGTH = 4
RNN_CELLS = {"rnn": "Elman RNN (tanh)", "lstm": "LSTM"}
# SGD's step for each cell: the LSTM's gates keep gradients small, so it takes larger steps
RNN_LEARNING_RATE = {"rnn": 0.1, "lstm": 0.5}


def rnn(
    dtype: str,
    seed: int,
    lr: float | None = None,
    batch_size: int = 16,
    embed: int = 16,
    hidden: int = 32,
    batches_per_length: int = RNN_BATCHES_PER_LENGTH,
    clip: float = 0.1,
    exact: bool = False,
    cell: str = "lstm",
) -> Workload:
    from .rnn_dynamic import RnnDynamic
    from .rnn_static import RnnStatic
    from .rnn_traced import RnnTraced
    from .rnn_while import RnnWhile

    task = data.SentimentTask()
    batches = task.batches(batch_size, batches_per_length, seed)
    held_out = task.batches(batch_size, 1, seed + 1, exclude=batches)
    weights = rnn_weights(seed, dtype, task.vocab_size, embed, hidden, cell=cell)
    options = compile_options(exact)
    lr = RNN_LEARNING_RATE[cell] if lr is None else lr
    return Workload(
        name="rnn",
        batches=batches,
        modes=[
            Mode(
                "dynamic",
                "dynamic",
                lambda: RnnDynamic(weights, lr, dtype, clip, cell),
                RnnDynamic,
                graph_length=lambda b: b.max_length,
            ),
            Mode(
                "static-padded",
                "static",
                lambda: RnnStatic(weights, lr, dtype, (task.max_len,), clip, options, exact, cell),
                RnnStatic,
                graph_length=lambda b: task.max_len,
            ),
            Mode(
                "static-bucketed",
                "static",
                lambda: RnnStatic(weights, lr, dtype, RNN_BUCKETS, clip, options, exact, cell),
                RnnStatic,
                graph_length=lambda b: data.bucket_length(b.max_length, RNN_BUCKETS),
            ),
            Mode(  # one graph with a loop in it (compare/rnn_while.py)
                "static-while",
                "static",
                lambda: RnnWhile(weights, lr, dtype, task.max_len, clip, options, exact, cell),
                RnnWhile,
                graph_length=lambda b: b.max_length,
            ),
            *_cpu_only(
                Mode(
                    "traced",
                    "static",
                    lambda: RnnTraced(weights, lr, dtype, clip, options, cell),
                    RnnTraced,
                    graph_length=lambda b: b.max_length,
                )
            ),
        ],
        reference="dynamic",
        info={
            "network": f"embedding {task.vocab_size}x{embed} -> {RNN_CELLS[cell]} {hidden} "
            f"-> linear 2, softmax cross-entropy, SGD, gradients clipped to +-{clip}",
            "batch_size": batch_size,
            "lengths": f"{task.min_len}..{task.max_len}",
            "buckets": list(RNN_BUCKETS),
            "lr": lr,
            "batches_per_epoch": len(batches),
            "held_out_sentences": sum(len(b.labels) for b in held_out),
        },
        held_out=held_out,
        exact=exact,
    )


WORKLOADS: dict[str, Callable[..., Workload]] = {"xor": xor, "rnn": rnn}
DEFAULT_STEPS = {"xor": 1000, "rnn": 456}  # rnn: 3 epochs of 152 batches
