"""The classic figure on why static graphs pad: two sentences, three graphs.

Left, the dynamic (define-by-run) graphs the tape records for two sentences of different
lengths: each has exactly as many RNN steps as its sentence has words. Right, the one
static (define-and-run) graph both sentences must share: unrolled to a fixed length,
with a mask that keeps the state unchanged over the padding, so the short sentence pays
for steps it does not have.

Example:
    >>> # rnn_padding_figure(lengths=(3, 5), padded=6).save("why_static_pads.svg")
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..visualize.dot import DotBuilder, Figure
from ..visualize.static_graph import draw_static, select_nodes
from ..visualize.tape import draw_recorded_forward


def rnn_padding_figure(lengths: Sequence[int] = (3, 5), padded: int | None = None,
                       dtype: str = "float64", seed: int = 0, embed: int = 4,
                       hidden: int = 4) -> Figure:
    """Dynamic graphs of sentences of ``lengths`` words, beside the static graph unrolled
    to ``padded`` steps (default: the longest sentence plus one, so padding shows).

    The models are the workload's own (``compare.rnn_dynamic`` and ``compare.rnn_static``)
    built from one set of weights; small ``embed``/``hidden`` sizes keep labels short.
    """
    from .. import dynamic as torch
    from .data import SentimentTask
    from .rnn_dynamic import RnnDynamic
    from .rnn_static import RnnStatic
    from .weights import rnn_weights

    if not lengths or min(lengths) < 1:
        raise ValueError(f"rnn_padding_figure: lengths must be positive, got {list(lengths)}")
    padded = padded if padded is not None else max(lengths) + 1
    if padded < max(lengths):
        raise ValueError(f"rnn_padding_figure: padded={padded} is shorter than the longest "
                         f"sentence ({max(lengths)} words)")
    task = SentimentTask()
    weights = rnn_weights(seed, dtype, task.vocab_size, embed, hidden)
    rng = np.random.default_rng(seed)
    b = DotBuilder("rnn_padding", {
        "rankdir": "TB", "labelloc": "t", "ranksep": 0.25, "nodesep": 0.2,
        "label": "Why static graphs pad: the dynamic graphs of two sentences (one per "
                 "length) beside the one static graph that serves both"})
    trainer = RnnDynamic(weights, 0.1, dtype)
    params = {f"{name}": p for name, p in trainer.model.named_parameters()}
    counts = []
    for k, length in enumerate(lengths):
        words, label = task.sentence(length, rng)
        tokens = torch.from_numpy(words[None, :])
        loss = trainer.loss_fn(trainer.model(tokens), torch.from_numpy(np.array([label])))
        with b.cluster(f"dynamic: sentence {k + 1}, {length} words", style="rounded",
                       color="#b03a2e", fontsize=12):
            drawn = draw_recorded_forward(b, loss, params, prefix=f"d{k}_", fold_inputs=True,
                                          collapse=False)
            counts.append(len(drawn.fns))
    static = RnnStatic(weights, 0.1, dtype, (padded,))
    graph = static.unrolled[padded]
    nodes = select_nodes(static.graph, [graph["loss"]], backward=False)
    calls = sum(1 for n in nodes if n.kind == "call")
    with b.cluster(f"static: one graph unrolled to {padded} steps (padding masked), "
                   f"{calls} ops for every sentence", style="rounded", color="#1f4e99",
                   fontsize=12):
        draw_static(b, nodes, prefix="s_")
    note = ", ".join(f"{n} words: {c} recorded ops" for n, c in zip(lengths, counts,
                                                                      strict=True))
    return b.figure("why static graphs pad", dynamic_ops=counts, static_ops=calls,
                    caption=f"dynamic: {note}; static: {calls} ops for any sentence up to "
                            f"{padded} words")
