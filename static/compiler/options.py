"""``CompileOptions``: every switch of the static compiler, in one frozen dataclass.

A Session holds one and compiles each (fetches, feed signature) with it; ``compile`` reads
it directly. The graph passes are switched by name: each pass of
``pipeline.PASSES`` has a field of the same name here, and ``without(*names)`` rejects a
name that is no pass (``UnknownPassError``), so a misspelled switch is never silently on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

#: programs a Session keeps (least recently used dropped first), unless set otherwise
DEFAULT_MAX_CACHED_PROGRAMS = 64


class UnknownPassError(ValueError):
    """A pass or switch name that the compiler does not have."""


@dataclass(frozen=True)
class CompileOptions:
    """How a Session turns a pruned graph into a Program.

    Attributes:
        optimize: run the graph passes (``fold_constants`` ... ``dce`` below); off, the
            graph runs as built.
        plan_memory: place intermediates in one planned arena (off: an array of its own
            for every value, each run).
        device: where arrays live: "cpu" (numpy) or "gpu" (cupy).
        fold_constants, cse, simplify, dot_merge, lower, materialize_transposes, dce:
            each graph pass on its own (used while ``optimize`` is on); see
            ``static/compiler/pipeline.py`` for what each does.
        loop_hoist: a loop's work that does not depend on the step order hoisted out of it
            (``compiler/loop_hoist.py``; while ``optimize`` is on, not under ``exact``).
        fuse: chains of elementwise ops (bias and activation, an SGD update) as one node
            each, run by their members' kernels into one buffer (``compiler/fusion.py``).
        reorder: the memory-aware schedule (runs whether or not ``optimize`` is on).
        inplace: in-place writes (part of planning: used while ``plan_memory`` is on).
        check_numerics: debugging: run node by node and stop at the first NaN/Inf.
        cuda_graph: on a GPU, run the steady-state step as one captured CUDA graph
            (``compiler/cuda_graph.py``); ``Session.plan(...).execution`` says which ran.
        exact: the same arithmetic in the same order as dynamic mode: the passes that
            change the order of floating-point sums or the kernels' operand layout
            (``dot_merge``, ``materialize_transposes``, ``loop_hoist``) stay off whatever
            their switches say.
        verify: ``graphs.verify`` after every pass.
        recompute: trade compute for memory (``compiler/recompute.py``): None (keep every
            forward value the backward reads), ``"sqrt"`` (keep about sqrt(n) of them and
            recompute the rest in the backward pass) or a byte budget for the arena (the
            fewest recomputations that fit). Results are bit-identical either way.
        blas: the library that runs each 2-D matrix product (``runtime/blas.py``):
            ``"numpy"`` (numpy's matmul: deterministic, the default), ``"mkl"``, or
            ``"auto"``: each matmul node's shapes timed with every installed library at
            compile time and the fastest kept (``compiler/autotune.py``; the choice per node
            is ``Session.plan(...).providers``). ``exact`` runs numpy's whatever it says.
        max_cached_programs: programs a Session keeps (an LRU; None: no bound). A Session
            that keeps evicting warns once with ``CompileCacheWarning``.

    Example:
        >>> CompileOptions(optimize=False).plan_memory
        True
        >>> CompileOptions().without("dot_merge").dot_merge
        False
    """

    optimize: bool = True
    plan_memory: bool = True
    device: str = "cpu"
    fold_constants: bool = True
    cse: bool = True
    simplify: bool = True
    # one GEMM per block of about sqrt(T) unrolled steps for matmuls that share an operand
    # (compiler/dot_merge.py);
    # it changes the order of summation: results equal to float tolerance, not bit for bit
    dot_merge: bool = True
    # a loop's time-parallel work run once outside it: the forward body's input projections
    # for every step in one GEMM, the reverse body's weight and bias gradients as one
    # product over the stacked per-step operand (compiler/loop_hoist.py); it changes the
    # order of summation, so exact mode leaves loops alone, as it does dot_merge
    loop_hoist: bool = True
    # sum_to, flagged matmuls and mean rewritten once shapes are known (bit-identical)
    lower: bool = True
    # one row-major copy per run of a weight that many matmuls read transposed (the
    # backward g @ w.T of every unrolled step): BLAS packs it faster (compiler/passes.py)
    materialize_transposes: bool = True
    dce: bool = True
    # chains of elementwise ops as one `fused` node each (compiler/fusion.py); bit-identical
    fuse: bool = True
    # a product added to a value that dies there summed into it by the GEMM library
    # (compiler/gemm_acc.py; with a blas setting that runs MKL; not under exact)
    gemm_acc: bool = True
    reorder: bool = True
    inplace: bool = True
    check_numerics: bool = False
    # on a GPU, steady-state runs replay one captured CUDA graph (compiler/cuda_graph.py)
    cuda_graph: bool = True
    exact: bool = False
    verify: bool = True
    max_cached_programs: int | None = DEFAULT_MAX_CACHED_PROGRAMS
    recompute: str | int | None = None
    # which GEMM library runs each matmul (runtime/blas.py); "auto" times them per node
    blas: str = "numpy"

    def __post_init__(self) -> None:
        from ...runtime.blas import check_name
        from .recompute import check_setting

        check_setting(self.recompute)
        check_name(self.blas)
        limit = self.max_cached_programs
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"CompileOptions.max_cached_programs must be a positive int or "
                             f"None (no bound), got {limit!r}")

    def pass_settings(self, name: str) -> dict[str, object]:
        """The keyword arguments that configured pass ``name`` takes from these options.

        Example:
            >>> CompileOptions(recompute="sqrt").pass_settings("dot_merge")
            {'fold_bias': False}
        """
        if name == "dot_merge":
            # a block's bias added once makes each step's row a view of the block's sum, which
            # then outlives recomputation's checkpoints (RNN-large "sqrt" arena 8.03 -> 6.40 MB)
            return {"fold_bias": self.recompute is None}
        if name == "gemm_acc":  # (its choices are CPU libraries' timings)
            return {"setting": self.blas if self.device == "cpu" else "numpy"}
        if name == "simplify":  # exact keeps h0 @ w: numpy makes NaN of an inf or NaN in w
            return {"zero_products": not self.exact}
        return {"setting": getattr(self, name)}

    def without(self, *names: str) -> CompileOptions:
        """These options with the named passes (or switches) off; unknown names raise.

        Example:
            >>> CompileOptions().without("cse", "inplace").cse
            False
        """
        known = switch_names()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownPassError(f"unknown compiler switch {', '.join(map(repr, unknown))}; "
                                   f"the switches are {', '.join(sorted(known))}")
        return replace(self, **{n: False for n in names})


def switch_names() -> frozenset[str]:
    """The boolean switches of CompileOptions: the passes and the stages around them."""
    return frozenset(f.name for f in fields(CompileOptions) if f.type in ("bool", bool))
