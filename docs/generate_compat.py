"""Writes docs/compatibility.md: every PyTorch and TF1 name tapeflow supports, from the code.

The names come from introspecting the modules (``tapeflow.dynamic`` as ``torch``,
``tapeflow.static`` as ``tf``, their submodules and main classes); the notes on deliberate
differences are curated below and must name something the table lists; the names tapeflow
does not implement come from the lists that the friendly-miss errors use.

Usage:
    python docs/generate_compat.py           # rewrite docs/compatibility.md
    python docs/generate_compat.py --check   # exit 1 if the committed page is stale

Example:
    >>> page = render()
    >>> "| `torch.tanh` | function |" in page
    True
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic import unsupported as torch_missing
from tapeflow.runtime import dtypes as dt
from tapeflow.runtime.missing import public_names
from tapeflow.static import unsupported as tf_missing

PAGE = Path(__file__).with_name("compatibility.md")

# The two namespaces below where a name is tapeflow's own (not a PyTorch / TF1 name).
TAPEFLOW_ONLY = {
    "torch.LEGACY", "torch.TensorShapeError",
    "tf.CompileOptions", "tf.OnnxExportError", "tf.RetracingWarning", "tf.TracedFunction",
    "tf.TracingError", "tf.bool_", "tf.build_program", "tf.export_onnx", "tf.trace",
}

_START_OF_RUN = ("every read of a variable in one `Session.run` sees its value from the start "
                 "of the run; assignments land after the run succeeded (the last assign of a "
                 "variable wins), so a failed run changes nothing")
_SEEDS = "seeded draws come from tapeflow's generator: the same seed gives other numbers"
_OWN_DTYPE = ("keeps the input's float dtype (TF1's `tf.losses` cast to float32); the "
              "per-element math is the runtime composite shared with dynamic mode")
_GLOBAL_GRAD = "grad mode is one process-wide flag, not per thread as in PyTorch"

#: Deliberate differences from PyTorch / TF1, keyed by the name as users spell it.
NOTES: dict[str, str] = {
    "torch.dtype": "dtypes print as `tapeflow.float32` (PyTorch: `torch.float32`)",
    "torch.empty": "returns zeros (PyTorch leaves the memory uninitialised; zero is one of "
                   "the values it may hold)",
    "torch.empty_like": "returns zeros, as `torch.empty`",
    "torch.FloatTensor": "`FloatTensor(2, 3)` gives zeros, as `torch.empty`",
    "torch.no_grad": _GLOBAL_GRAD,
    "torch.enable_grad": _GLOBAL_GRAD,
    "torch.set_grad_enabled": _GLOBAL_GRAD,
    "torch.where": "the one-argument form `torch.where(condition)` is not supported "
                   "(its shape depends on the data)",
    "torch.allclose": "`equal_nan=True` is not supported",
    "torch.max": "`max(input, dim)` returns a `ValuesIndices` named tuple (`.values`, "
                 "`.indices`) standing in for `torch.return_types.max`",
    "torch.min": "`min(input, dim)` returns `ValuesIndices`, as `torch.max`",
    "torch.manual_seed": _SEEDS,
    "torch.rand": _SEEDS, "torch.randn": _SEEDS, "torch.randint": _SEEDS,
    "torch.linspace": "computed in float64 and rounded once (within one ulp of PyTorch)",
    "torch.save": "writes tapeflow's checkpoint format (an npz zip, never pickle); see "
                  "docs/checkpoint_format.md",
    "tf.nn.dynamic_rnn": "one `tf.while_loop` over time; `sequence_length` follows TF1 "
                         "(zero outputs and a carried state past each length)",
    "tf.nn.static_rnn": "`sequence_length` is refused (pad or bucket batches instead)",
    "torch.utils.data.DataLoader": "loads in the calling process: `num_workers` and "
                                   "`pin_memory` are accepted and ignored; no samplers",
    "torch.load": "reads tapeflow's checkpoint format; `map_location` as a function is not "
                  "supported",
    "torch.cuda": "only `is_available()`: CUDA means the cupy backend",
    "torch.Tensor operators": "indexing: one tensor index per expression, mixed only with "
                              "full slices `:`; assignment through an integer-tensor index "
                              "is not recorded on the tape",
    "torch.Tensor.max": "with `dim`: a `ValuesIndices` named tuple",
    "torch.Tensor.min": "with `dim`: a `ValuesIndices` named tuple",
    "torch.Tensor.norm": "p = 2 ('fro'), 1 and inf only",
    "torch.norm": "p = 2 ('fro'), 1 and inf only",
    "torch.Tensor.numpy": "shares memory with the tensor, as in PyTorch",
    "torch.nn.functional.relu": "`inplace=True` is accepted and computes out of place",
    "torch.nn.functional.dropout": _SEEDS,
    "torch.nn.functional.mse_loss": "keeps the input dtype; the same composite as "
                                    "`tf.losses.mean_squared_error`",
    "torch.nn.RNN": "Elman RNN only (`nonlinearity='tanh'|'relu'`)",
    "torch.optim.Optimizer": "`zero_grad()` sets `.grad` to None by default, as PyTorch 2",
    "tf.compat": "`tf.compat.v1` is `tf` itself, for code written against "
                 "`tensorflow.compat.v1`",
    "tf.DType": "dtypes print as `tapeflow.float32` (TF1: `tf.float32`)",
    "tf.Variable": _START_OF_RUN,
    "tf.Variable.assign": _START_OF_RUN,
    "tf.assign": _START_OF_RUN,
    "tf.control_dependencies": "decides whether something runs, never the order of reads and "
                               "writes (reads see the start of the run)",
    "tf.Session.run": "compiles the pruned graph once per (fetches, feed signature) and "
                      "runs the cached program afterwards",
    "tf.where": "the one-argument form `tf.where(condition)` is not supported (its shape "
                "depends on the data)",
    "tf.one_hot": "only `axis=-1`",
    "tf.split": "the split dimension must be known when the graph is built",
    "tf.range": "start, limit and delta must be Python numbers (the length is static)",
    "tf.linspace": "start, stop and num must be Python numbers (the length is static)",
    "tf.Tensor operators": "indexing: ints, slices, `...` and `tf.newaxis` only; integer-array "
                             "indexing is `tf.gather`",
    "tf.set_random_seed": _SEEDS,
    "tf.random_normal": _SEEDS, "tf.random_uniform": _SEEDS, "tf.truncated_normal": _SEEDS,
    "tf.local_variables_initializer": "an op that does nothing: there are no local variables",
    "tf.function": "tapeflow's bridge: traces PyTorch-style (`tapeflow.dynamic`) code into a "
                   "compiled static graph, unlike TF2's `tf.function`",
    "tf.losses.mean_squared_error": _OWN_DTYPE,
    "tf.losses.softmax_cross_entropy": _OWN_DTYPE,
    "tf.losses.sparse_softmax_cross_entropy": _OWN_DTYPE,
    "tf.nn.softmax_cross_entropy_with_logits": "no gradient flows into `labels`, as TF1 (the "
                                               "`_v2` form lets it)",
    "tf.train.Saver": "writes tapeflow's checkpoint format (docs/checkpoint_format.md), not "
                      "TF's; `tf.train.load_variable` reads it",
}

#: Dunder methods that make Python operators work, shown as one row per class.
OPERATORS = {"__add__": "+", "__sub__": "-", "__mul__": "*", "__truediv__": "/",
             "__pow__": "**", "__matmul__": "@", "__neg__": "unary -", "__abs__": "abs()",
             "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">=", "__eq__": "==",
             "__ne__": "!=", "__and__": "&", "__or__": "|", "__invert__": "~",
             "__getitem__": "[]", "__setitem__": "[]=", "__iadd__": "+=", "__isub__": "-=",
             "__imul__": "*=", "__itruediv__": "/="}
#: Python conversions; a TF1 tensor defines bool() and iter() only to refuse them, as TF1.
CONVERSIONS = {"__len__": "len()", "__iter__": "iter()", "__bool__": "bool()",
               "__float__": "float()", "__int__": "int()"}


def _kind(value: Any) -> str:
    if isinstance(value, dt.DType):
        return "dtype"
    if inspect.ismodule(value):
        return "module"
    if isinstance(value, SimpleNamespace):
        return "namespace"
    if isinstance(value, property):
        return "property"
    if inspect.isclass(value) or isinstance(value, type):
        return "class"
    if callable(value):
        return "function"
    return "constant"


Row = tuple[str, str, str]  # (name, kind, what it covers)


def _module_rows(spelled: str, module: Any) -> list[Row]:
    return [(f"{spelled}.{name}", _kind(getattr(module, name)), "")
            for name in public_names(module.__name__)]


def _class_rows(spelled: str, cls: type, conversions: bool = False) -> list[Row]:
    rows = [(f"{spelled}.{name}", _kind(inspect.getattr_static(cls, name)), "")
            for name in sorted(dir(cls)) if not name.startswith("_")]
    table = {**OPERATORS, **CONVERSIONS} if conversions else OPERATORS
    # defined by the class or a base other than object (type's own __or__ does not count)
    symbols = [f"`{sym}`" for dunder, sym in table.items()
               if any(dunder in vars(base) for base in cls.__mro__ if base is not object)]
    if symbols:
        rows.append((f"{spelled} operators", "operators", " ".join(symbols)))
    return rows


def _sections() -> list[tuple[str, list[Row]]]:
    import tapeflow.dynamic.nn.init as init

    return [
        ("`torch` (`import tapeflow.dynamic as torch`)", _module_rows("torch", torch)),
        ("`torch.Tensor`", _class_rows("torch.Tensor", torch.Tensor, conversions=True)),
        ("`torch.nn`", _module_rows("torch.nn", torch.nn)),
        ("`torch.nn.Module`", _class_rows("torch.nn.Module", torch.nn.Module)),
        ("`torch.nn.functional`", _module_rows("torch.nn.functional", torch.nn.functional)),
        ("`torch.nn.init`", _module_rows("torch.nn.init", init)),
        ("`torch.optim`", _module_rows("torch.optim", torch.optim)),
        ("`torch.optim.Optimizer`", _class_rows("torch.optim.Optimizer", torch.optim.Optimizer)),
        ("`torch.autograd`", _module_rows("torch.autograd", torch.autograd)),
        ("`torch.utils.data`", _module_rows("torch.utils.data", torch.utils.data)),
        ("`tf` (`import tapeflow.static as tf`)", _module_rows("tf", tf)),
        ("`tf.math`", _module_rows("tf.math", tf.math)),
        ("`tf.nn`", _module_rows("tf.nn", tf.nn)),
        ("`tf.losses`", _module_rows("tf.losses", tf.losses)),
        ("`tf.layers`", _module_rows("tf.layers", tf.layers)),
        ("`tf.nn.rnn_cell`", _module_rows("tf.nn.rnn_cell", tf.nn.rnn_cell)),
        ("`tf.train`", _module_rows("tf.train", tf.train)),
        ("`tf.train.Optimizer`", _class_rows("tf.train.Optimizer", tf.train.Optimizer)),
        ("`tf.Session`", _class_rows("tf.Session", tf.Session)),
        ("`tf.Graph`", _class_rows("tf.Graph", tf.Graph)),
        ("`tf.Tensor`", _class_rows("tf.Tensor", tf.Tensor)),
        ("`tf.Variable`", _class_rows("tf.Variable", tf.Variable)),
        ("`tf.Operation`", _class_rows("tf.Operation", tf.Operation)),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a bare | would end the Markdown table cell


def _table(rows: Iterable[Row], note: Callable[[str], str]) -> list[str]:
    lines = ["| name | kind | notes |", "| --- | --- | --- |"]
    for name, kind, covers in rows:
        text = "; ".join(part for part in (covers, note(name)) if part)
        lines.append(f"| `{name}` | {kind} | {_cell(text)} |")
    return lines


def render() -> str:
    """The whole page, as ``docs/compatibility.md`` should hold it."""
    sections = _sections()
    listed = {name for _, rows in sections for name, _, _ in rows}
    unknown = sorted(set(NOTES) - listed)
    if unknown:
        raise SystemExit(f"generate_compat.py: notes for names the table does not list "
                         f"(renamed or removed?): {unknown}")

    def note(name: str) -> str:
        parts = ["tapeflow only"] if name in TAPEFLOW_ONLY else []
        if name in NOTES:
            parts.append(NOTES[name])
        return "; ".join(parts)

    out = ["# tapeflow API compatibility",
           "",
           "<!-- Generated by `python docs/generate_compat.py` from the code; do not edit. "
           "tests/integration/test_api_fidelity.py fails when this page is stale. -->",
           "",
           "Programs written for PyTorch or TensorFlow 1.x run with only their import changed "
           "(`import tapeflow.dynamic as torch`, `import tapeflow.static as tf`) when they use "
           "the names below. A name listed with no note behaves as in PyTorch / TF1; notes "
           "mark deliberate differences, and names that are tapeflow's own. Asking for a "
           "well-known name that is not here (`torch.conv2d`, `tf.contrib`) raises "
           "`UnsupportedNameError` (a `NotImplementedError` and an `AttributeError`) naming "
           "the closest supported names; the last section lists them.",
           ""]
    total = 0
    for title, rows in sections:
        out += [f"## {title}", "", *_table(rows, note), ""]
        total += len(rows)
    out += ["## Well-known names that are not implemented", ""]
    missing_rows: list[tuple[str, str]] = []
    for table in (torch_missing.MISSING, tf_missing.MISSING):
        for spelled, names in table.items():
            missing_rows += [(f"{spelled}.{n}", names[n]) for n in sorted(names)]
    out += ["| name | what to use instead |", "| --- | --- |"]
    out += [f"| `{name}` | {_cell(why)} |" for name, why in missing_rows]
    out += ["", f"{total} supported names; {len(missing_rows)} well-known names not "
                "implemented.", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    page = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != page:
            print(f"{PAGE} is out of date: run python docs/generate_compat.py")
            return 1
        return 0
    PAGE.write_text(page)
    print(f"wrote {PAGE} ({len(page.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
