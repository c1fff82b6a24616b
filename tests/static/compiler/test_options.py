"""CompileOptions and the pass list: switches by name, unknown names refused, exact mode."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from builders import rnn_graph
from tapeflow.static.compiler import PASSES, CompileOptions, UnknownPassError


def names(options: CompileOptions) -> list[str]:
    return [entry.name for entry in PASSES.selected(options)]


def test_every_pass_has_a_switch_of_its_name() -> None:
    switches = {f.name for f in fields(CompileOptions)}
    assert set(PASSES.names) <= switches
    assert tf.CompileOptions is CompileOptions


def test_switches_select_the_passes() -> None:
    assert names(CompileOptions()) == ["fold_constants", "cse", "simplify", "dot_merge", "lower",
                                       "cse", "materialize_transposes", "dce", "reorder",
                                       "gemm_acc", "fuse"]
    assert names(CompileOptions(optimize=False)) == ["reorder"]
    assert "cse" not in names(CompileOptions(cse=False))
    # lower has a switch of its own: simplify off no longer turns it off
    assert "lower" in names(CompileOptions(simplify=False))


def test_exact_mode_drops_the_passes_that_reorder_arithmetic() -> None:
    assert names(CompileOptions(exact=True)) == ["fold_constants", "cse", "simplify", "lower",
                                                 "cse", "dce", "reorder", "fuse"]


def test_unknown_pass_names_are_refused() -> None:
    with pytest.raises(UnknownPassError, match="unknown pass 'dot_merj'; the passes are"):
        PASSES.check(["cse", "dot_merj"])
    with pytest.raises(UnknownPassError, match="'simplfy'"):
        CompileOptions().without("simplfy")
    with pytest.raises(TypeError):
        CompileOptions(simplfy=False)  # type: ignore[call-arg]


def train(options: CompileOptions, runs: int = 4) -> tuple[list[Any], list[Any]]:
    # big enough that merged GEMMs sum in another order: on OpenBLAS the default options
    # give losses 3e-17 away from the interpreter's at the third step
    graph, init, feed, fetches, params = rnn_graph(batch=16, steps=6, features=8, hidden=32)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        losses = [sess.run(list(fetches), feed)[0] for _ in range(runs)]
        return losses, sess.run(params)


def test_exact_mode_computes_what_the_graph_says_bit_for_bit() -> None:
    # the interpreter runs the graph as built, one registry kernel per node (as dynamic
    # mode runs its tape); exact compiled runs must give the very same bits
    reference = train(CompileOptions(optimize=False, plan_memory=False))
    for options in (CompileOptions(exact=True), CompileOptions(exact=True, plan_memory=False)):
        losses, params = train(options)
        assert losses == reference[0]
        for got, want in zip(params, reference[1], strict=True):
            np.testing.assert_array_equal(got, want)
