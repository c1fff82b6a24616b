"""A trace affects only the thread that traces, and the bridge uses dynamic/'s public hooks.

``tapeflow.static.function`` pushes its tracer as the tracing thread's interceptor; an eager
step another thread takes meanwhile runs eagerly and is applied. Threads are joined with a
bound, so a hang fails the test instead of the run.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import numpy as np
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic.tensor import Tensor

JOIN_S = 60
ROOT = Path(__file__).resolve().parents[3]


def test_an_eager_step_in_another_thread_during_a_trace_is_applied() -> None:
    tracing, stepped = threading.Event(), threading.Event()
    traced_model = torch.nn.Linear(2, 1, bias=False)
    traced_opt = torch.optim.SGD(traced_model.parameters(), lr=0.1)
    eager = torch.nn.Parameter(torch.ones(3))
    eager_opt = torch.optim.SGD([eager], lr=0.5)
    errors: list[BaseException] = []

    @tf.function
    def train(x: Any) -> Any:
        traced_opt.zero_grad()
        loss = traced_model(x).sum()
        loss.backward()
        tracing.set()  # mid-trace: the other thread steps its own optimizer now
        assert stepped.wait(JOIN_S)
        traced_opt.step()
        return loss

    def other() -> None:
        try:
            assert tracing.wait(JOIN_S)
            eager_opt.zero_grad()
            (eager * 2.0).sum().backward()
            eager_opt.step()  # not the tracer's: an eager update of real values
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        finally:
            stepped.set()

    thread = threading.Thread(target=other)
    thread.start()
    w0 = traced_model.weight.detach().numpy().copy()
    train(torch.ones(4, 2))
    thread.join(JOIN_S)
    assert not thread.is_alive() and not errors
    assert eager.tolist() == [0.0, 0.0, 0.0]  # 1 - 0.5 * 2
    # the trace holds only its own thread's step: one SGD update of the traced weight
    np.testing.assert_allclose(traced_model.weight.detach().numpy(), w0 - 0.1 * 4.0, rtol=1e-6)
    names = {op.name for op in train.graph.get_operations()}
    assert not any("SGD_1" in n for n in names)
    train(torch.ones(4, 2))  # the compiled step runs again: a second update
    np.testing.assert_allclose(traced_model.weight.detach().numpy(), w0 - 0.8, rtol=1e-6)
    assert eager.tolist() == [0.0, 0.0, 0.0]


def test_two_threads_trace_their_own_functions_at_once() -> None:
    barrier = threading.Barrier(2)
    results: dict[int, float] = {}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            @tf.function
            def f(x: Any) -> Any:
                barrier.wait(JOIN_S)  # both threads are tracing now
                return (x * float(k)).sum()

            results[k] = f(torch.ones(3)).item()
            assert f.trace_count == 1  # traced in its own thread, not inlined into the other
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in (2, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
    assert not errors and results == {2: 6.0, 5: 15.0}


def _private_tensor_touches(path: Path) -> list[str]:
    private = {s for s in Tensor.__slots__ if s.startswith("_") and not s.startswith("__")}
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1 and \
                isinstance(node.args[1], ast.Constant) and node.args[1].value in private:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.id} "
                         f"'{node.args[1].value}'")
        elif isinstance(node, ast.Attribute) and node.attr == "__slots__" and \
                isinstance(node.value, ast.Name) and node.value.id in ("Tensor",
                                                                       "DynamicTensor"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: Tensor.__slots__")
    return found


def test_no_code_outside_dynamic_touches_private_tensor_fields() -> None:
    sources = [p for d in ("static", "visualize", "compare", "graphs", "runtime")
               for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(sources) > 20
    touches = [t for p in sources for t in _private_tensor_touches(p)]
    assert touches == [], "use tapeflow.dynamic.interop instead:\n" + "\n".join(touches)


def test_the_bridge_patches_no_class_and_sets_no_global_tracer() -> None:
    steps = {cls: cls.__dict__["step"] for cls in (torch.optim.SGD, torch.optim.Adam)}
    zero = torch.nn.Module.__dict__["zero_grad"]
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen: list[Any] = []

    @tf.function
    def step(x: Any) -> Any:
        seen.append((torch.optim.SGD.__dict__["step"], torch.nn.Module.__dict__["zero_grad"]))
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    step(torch.ones(3, 2))
    assert seen == [(steps[torch.optim.SGD], zero)]
    assert {cls: cls.__dict__["step"] for cls in steps} == steps
