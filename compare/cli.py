"""The ``tapeflow`` command: train the workloads in both styles side by side and compare."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .workloads import DEFAULT_STEPS, WORKLOADS


class UsageError(Exception):
    """A bad command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not argparse's usage dump
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tapeflow",
        description=(
            "One model, two graphs: run the same workloads as a static (TF1-style) graph and "
            "as dynamic (PyTorch-style) eager code, and compare build cost, step time, memory "
            "and the graphs themselves."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    _add_compare(sub)
    _add_train(sub)
    _add_graph(sub)
    _add_figure(sub)
    return parser


def _add_compare(sub: argparse._SubParsersAction) -> None:
    """`tapeflow compare`: every mode of a workload side by side."""
    compare = sub.add_parser(
        "compare",
        help="train every mode of a workload side by side",
        description="Train every mode from the same weights on the same "
        "batches; print a table; check in lockstep that losses and gradients agree.",
    )
    compare.add_argument("workload", choices=[*WORKLOADS, "all"], help="xor, rnn or all")
    _common(compare)
    compare.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write results.json (and the SVGs and report) into this folder",
    )
    compare.add_argument(
        "--exact",
        action="store_true",
        help="compile the static modes to do dynamic mode's arithmetic in its order "
        "(CompileOptions(exact=True)): free-running losses then equal bit for bit",
    )
    compare.add_argument(
        "--cell",
        choices=["lstm", "rnn"],
        default="lstm",
        help="the rnn workload's cell: lstm (default) or an Elman rnn (tanh)",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    """`tapeflow train`: one workload in one mode."""
    train = sub.add_parser("train", help="train one workload in one mode")
    train.add_argument("workload", choices=list(WORKLOADS))
    train.add_argument(
        "--mode",
        required=True,
        help="static or dynamic (rnn: also static-padded, static-bucketed, static-while)",
    )
    _common(train)


def _add_graph(sub: argparse._SubParsersAction) -> None:
    """`tapeflow graph`: a workload's graph as SVG."""
    graph = sub.add_parser("graph", help="render a workload's graph to SVG")
    graph.add_argument("workload", choices=list(WORKLOADS))
    graph.add_argument(
        "--mode", required=True, choices=["static", "static-while", "dynamic"],
        help="static: the (padded) unrolled graph; static-while (rnn): the graph with a loop, "
        "drawn as a box holding its body and a back edge; dynamic: the tape",
    )
    graph.add_argument(
        "--backward",
        action="store_true",
        help="static: the whole training graph (forward, backward, update; static-while: the "
        "forward loop and the reverse, gradient loop); dynamic: the autograd tape after "
        "backward (default: the forward graph only)",
    )
    graph.add_argument(
        "--memory",
        action="store_true",
        help="static: fill each node with the colour of its arena offset (same colour = "
        "same bytes) and show offset, size and lifetime (static-while: each loop body has an "
        "arena of its own, coloured inside its box when the body is drawn op by op: the "
        "forward graph, or --full); dynamic (with --backward): draw "
        "the tensors each tape node saved for backward",
    )
    graph.add_argument(
        "--full",
        action="store_true",
        help="static: draw every op (default: large graphs are summarised, a loop as one "
        "cell box marked x T; static-while's training graph: each loop body as a few boxes)",
    )
    _recompute_arguments(graph)
    graph.add_argument("-o", "--output", type=Path, required=True, help="the .svg (or .dot) file")
    graph.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    graph.add_argument("--seed", type=int, default=0)


def _add_figure(sub: argparse._SubParsersAction) -> None:
    """`tapeflow figure`: one of the report's figures."""
    from .figures import FIGURES

    figure = sub.add_parser(
        "figure",
        help="write one of the report's figures",
        description="Figures: " + "; ".join(f"{k}: {v[0]}" for k, v in FIGURES.items()),
    )
    figure.add_argument("name", choices=list(FIGURES), help="which figure (see above)")
    figure.add_argument("--workload", choices=list(WORKLOADS), default="xor")
    figure.add_argument("-o", "--output", type=Path, required=True,
                        help="the file (.svg; .dot for graphs without Graphviz; .html: player)")
    figure.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    figure.add_argument("--seed", type=int, default=0)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="training steps per mode (default: xor 1000, rnn 456 = 3 epochs)",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        default=None,
        help="cpu (numpy) or gpu (cupy); default: $TAPEFLOW_DEVICE or cpu",
    )
    parser.add_argument("--seed", type=int, default=0, help="one seed for weights and data")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--blas-threads",
        type=_positive_int,
        default=1,
        help="threads for BLAS matrix products (default 1, as the benchmarks: on a busy "
        "machine a multithreaded GEMM can stall many times over, and it would stall the "
        "static modes' large merged products, not dynamic mode's small ones)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _recompute_arguments(graph: argparse.ArgumentParser) -> None:
    graph.add_argument(
        "--recompute", type=_recompute_setting, default=None, metavar="{sqrt,BYTES}",
        help="static --backward: the training graph compiled with CompileOptions(recompute="
        "sqrt or a byte budget; dot_merge off): recomputed ops dashed, checkpoints with a "
        "double border, the arena of the recomputing plan in the title",
    )
    graph.add_argument("--cell", choices=["lstm", "rnn"], default=None,
                       help="the rnn workload's cell (default lstm, as tapeflow compare)")


def _recompute_setting(text: str) -> str | int:
    if text == "sqrt":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected sqrt or a byte budget (a positive "
                                         f"integer), got {text!r}") from None


def _progress_factory(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return lambda label, total: tqdm(
        total=total,
        desc=f"{label:<22}",
        unit="step",
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _select_device(device: str | None) -> None:
    from ..runtime import canonical_device, xp_for

    xp_for(canonical_device(device))  # a clear error now, not mid-run
    if device is not None:  # both front ends default to it (main() restores it afterwards)
        os.environ["TAPEFLOW_DEVICE"] = device


def cmd_compare(args: argparse.Namespace) -> int:
    from . import report
    from .harness import run_workload

    _select_device(args.device)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    progress = _progress_factory(not args.no_progress and sys.stderr.isatty())
    results = []
    for name in names:
        steps = args.steps or DEFAULT_STEPS[name]
        options = {"cell": args.cell} if name == "rnn" else {}
        workload = WORKLOADS[name](args.dtype, args.seed, exact=args.exact, **options)
        result = run_workload(workload, steps, args.dtype, progress)
        print(report.table(result))
        print()
        results.append(result)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {
            "tapeflow_results_version": 2,
            "dtype": args.dtype,
            "exact": args.exact,
            "seed": args.seed,
            "device": args.device or os.environ.get("TAPEFLOW_DEVICE", "cpu"),
            "workloads": {r.workload: r.to_json() for r in results},
        }
        (args.out / "results.json").write_text(json.dumps(payload, indent=1))
        written = report.write_outputs(args.out, results, args)
        print(f"wrote {args.out / 'results.json'}" + "".join(f"\nwrote {p}" for p in written))
    disagree = [r.workload for r in results if not r.agrees]
    if disagree:
        print(
            f"DISAGREEMENT: in lockstep (same weights, same batch) the loss or a gradient "
            f"differs beyond tolerance in {', '.join(disagree)}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from . import report
    from .harness import run_workload

    _select_device(args.device)
    workload = WORKLOADS[args.workload](args.dtype, args.seed)
    modes = {m.name: m for m in workload.modes}
    if args.mode == "static" and "static" not in modes:
        args.mode = "static-padded"
    if args.mode not in modes:
        raise UsageError(
            f"tapeflow train: workload {args.workload} has no mode {args.mode!r}; "
            f"choose from {', '.join(modes)}"
        )
    workload.modes = [modes[args.mode]]
    workload.reference = args.mode
    steps = args.steps or DEFAULT_STEPS[args.workload]
    result = run_workload(
        workload, steps, args.dtype, _progress_factory(not args.no_progress and sys.stderr.isatty())
    )
    print(report.table(result))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from . import workload_graphs

    if args.mode == "static-while" and args.workload != "rnn":
        raise UsageError(f"tapeflow graph: --mode static-while is the RNN's graph with a loop "
                         f"in it; workload {args.workload} has no loop (use rnn)")
    if args.recompute is not None and (args.mode != "static" or not args.backward):
        raise UsageError("tapeflow graph: --recompute draws a static training graph: use it "
                         "with --mode static --backward")
    if args.cell is not None and args.workload != "rnn":
        raise UsageError(f"tapeflow graph: --cell is the rnn workload's; {args.workload} has none")
    path = workload_graphs.render(
        args.workload, args.mode, args.backward, args.memory, args.output, args.dtype, args.seed,
        collapse=False if args.full else None, recompute=args.recompute, cell=args.cell,
    )
    print(f"wrote {path}")
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    from .figures import write_figure

    print(f"wrote {write_figure(args.name, args.workload, args.output, args.dtype, args.seed)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    saved_device = os.environ.get("TAPEFLOW_DEVICE")
    try:
        args = parser.parse_args(argv)
        if args.command in ("compare", "train"):
            from ..dynamic.heap import tune_heap

            tune_heap()  # process-wide, once, before any mode runs (dynamic/heap.py)
        handler = {"compare": cmd_compare, "train": cmd_train, "graph": cmd_graph,
                   "figure": cmd_figure}[args.command]
        if args.command not in ("compare", "train"):
            return handler(args)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            return handler(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # a known failure mode (no GPU, no dot) gets one line
        from ..runtime import DeviceError

        if isinstance(exc, DeviceError) or type(exc).__name__ == "DotNotFoundError":
            print(f"tapeflow: {exc}", file=sys.stderr)
            return 2
        raise
    finally:
        if saved_device is None:
            os.environ.pop("TAPEFLOW_DEVICE", None)
        else:
            os.environ["TAPEFLOW_DEVICE"] = saved_device


if __name__ == "__main__":
    sys.exit(main())
