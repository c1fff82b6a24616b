"""CUDA-graph replay of a static plan: the steady-state step as one captured graph.

On a GPU a planned schedule still pays Python and launch overhead per kernel: an XOR step
is a few dozen tiny kernels, each far shorter than its launch. CUDA graphs (NVIDIA's
"CUDA Graphs" programming-guide chapter; PyTorch's ``torch.cuda.graph`` does the same for
eager code) record the whole step once and replay it with one launch. A replay reads and
writes fixed device addresses, so:

* feeds and variables get **fixed device buffers**; each run copies the given arrays into
  them, launches the graph, and copies the fetched values and new variable values out
  into fresh arrays (the Program contract: results are arrays no later run overwrites);
* the first run is a plain one (cupy compiles its kernels and cuBLAS sets up there, which
  must not happen inside a capture); the capture follows it, on a side stream, with a
  **private memory pool**, so a temporary freed during the capture is never handed to
  anyone else while the graph still writes into it;
* cupy refuses cuBLAS inside a capture, so the capture runs the schedule with a recordable
  ``matmul`` (cuBLAS through ctypes on a handle of its own, ``cuda_gemm.py``), once
  unrecorded first;
* what cannot be captured runs the plain schedule, and the reason is recorded
  (``Plan.execution`` and :attr:`GraphReplay.reason`): a random op (its host draw would be
  frozen into the graph), a value of data-dependent size, a kernel that syncs with the host
  (the capture fails and says where), a cupy without stream capture, or a switch turned off.

Example:
    >>> # executor = with_cuda_graph(Executor(graph, plan, "gpu"), plan, enabled=True)
    >>> # values, updates = executor.run(feeds, variables)  # plain, then captured, replayed
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ...graphs.ir import Graph
from .cuda_gemm import Cublas, capture_matmul
from .lowering import concrete

PLAIN = "plain schedule"
REPLAY = "CUDA-graph replay"


def replay_blocker(graph: Graph, device: str, enabled: bool, api: Any) -> str | None:
    """Why this graph cannot run as a captured CUDA graph (None: it can)."""
    if not enabled:
        return "CUDA-graph replay is switched off (CompileOptions(cuda_graph=False))"
    if device != "gpu":
        return f"device '{device}': CUDA graphs need the GPU device"
    if not hasattr(getattr(getattr(api, "cuda", None), "Stream", None), "begin_capture"):
        return "this cupy has no stream capture (cupy.cuda.Stream.begin_capture)"
    for node in graph.nodes:
        if node.kind != "call":
            continue
        if node.opdef.kind == "random":
            return (f"node '{node.name or node.id}' (op {node.op}) draws on the host each run; "
                    "a replay would repeat one draw")
        if not concrete(node.shape):
            return (f"node '{node.name or node.id}' (op {node.op}) has a size known only at "
                    "run time")
    return None


class GraphReplay:
    """An executor whose steady-state runs replay one captured CUDA graph.

    Wraps a bound :class:`~.executor.Executor` (everything but ``run`` is the wrapped
    executor's). ``execution`` says what runs (:data:`REPLAY` or :data:`PLAIN`), ``reason``
    why not a replay, ``replays`` how many runs were replays.
    """

    def __init__(self, executor: Any, plan: Any = None, api: Any = None, blas: Any = None
                 ) -> None:
        self.executor = executor
        self._blas = blas if blas is not None else Cublas()  # (tests pass their own)
        self.api = api if api is not None else executor.xp
        self.plan = plan
        self.reason: str | None = "not run yet: the first run is plain, the capture follows it"
        self.replays = 0
        self._graph: Any = None
        self._lock = threading.Lock()
        self._warm = False
        self._set_execution(PLAIN)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.executor, name)

    def __len__(self) -> int:
        return len(self.executor)

    def _set_execution(self, execution: str) -> None:
        self.execution = execution
        if self.plan is not None:  # what Session.plan shows
            self.plan.execution = execution if self.reason is None else (
                f"{execution} ({self.reason})")

    def fall_back(self, reason: str) -> None:
        """Runs the plain schedule from now on, for ``reason``."""
        self.reason = reason
        self._graph = None
        self._set_execution(PLAIN)
        self.run = self.executor.run  # type: ignore[method-assign]  (no wrapper left)

    # ---- running -------------------------------------------------------------------------

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """One step: plain the first time, captured after it, replayed from then on."""
        with self._lock:
            if self._graph is not None and self._fits(feeds, variables):
                return self._replay(feeds, variables)
            result = self.executor.run(feeds, variables)
            if self._graph is None and not self._warm:
                self._warm = True
                self._capture(feeds, variables)
            return result

    def _fits(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]) -> bool:
        """Whether this run's arrays fit the captured buffers (a variable assigned a new
        shape, say, runs the plain schedule)."""
        for given, fixed in ((feeds, self._feeds), (variables, self._variables)):
            if given.keys() != fixed.keys():
                return False
            for key, buffer in fixed.items():
                array = given[key]
                if array.shape != buffer.shape or array.dtype != buffer.dtype:
                    return False
        return True

    def _load(self, buffer: Any, array: Any) -> None:
        if not isinstance(array, self.api.ndarray):
            buffer.set(array)  # a host array: one upload straight into the fixed buffer
        elif array.flags.c_contiguous and hasattr(buffer.data, "copy_from_device_async"):
            # same shape and dtype (_fits): one raw device copy, no elementwise kernel
            buffer.data.copy_from_device_async(array.data, buffer.nbytes)
        else:
            self.api.copyto(buffer, array)

    def _copy_out(self, array: Any) -> Any:
        """A new array holding ``array`` (a captured output), by one raw device copy."""
        if not (array.flags.c_contiguous and hasattr(array.data, "copy_from_device_async")):
            return array.copy()
        out = self.api.ndarray(array.shape, array.dtype)
        out.data.copy_from_device_async(array.data, array.nbytes)
        return out

    def _replay(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
                ) -> tuple[list[Any], dict[int, Any]]:
        for key, buffer in self._feeds.items():
            self._load(buffer, feeds[key])
        handed = self._handed
        for key, buffer in self._variables.items():
            array = variables[key]
            if array is not handed.get(key):  # (what we handed out is in the buffer already)
                self._load(buffer, array)
        self._graph.launch()  # on the current stream, ordered after the copies in
        self.replays += 1
        copy_out = self._copy_out
        values = [None if v is None else copy_out(v) for v in self._values]
        updates = {key: copy_out(u) for key, u in self._updates.items()}
        self._handed = {key: updates[key] for key in self._written_back}
        return values, updates

    def _capture(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]) -> None:
        """Records one run of the schedule into a CUDA graph, or falls back saying why."""
        api = self.api
        self._feeds = {k: api.empty_like(api.asarray(a)) for k, a in feeds.items()}
        self._variables = {k: api.empty_like(api.asarray(a)) for k, a in variables.items()}
        for fixed, given in ((self._feeds, feeds), (self._variables, variables)):
            for key, buffer in fixed.items():
                self._load(buffer, given[key])
        pool = api.cuda.MemoryPool()  # the graph's own: see the module docstring
        stream = api.cuda.Stream(non_blocking=True)
        api.cuda.Device().synchronize()  # the warm-up run has finished
        try:
            self._handle = handle = self._blas.create(stream.ptr)
            matmul = capture_matmul(self.executor.xp, handle, self._blas.gemm)
            with _capturable(self.executor, matmul), \
                    api.cuda.using_allocator(pool.malloc), stream:
                # once more on the capture path, not recorded: cuBLAS sets up its workspace
                self.executor.run(self._feeds, self._variables)
                stream.synchronize()
                stream.begin_capture()
                try:
                    values, updates = self.executor.run(self._feeds, self._variables)
                    # the new values go back into the variables' buffers too, inside the
                    # graph: a next run that passes the very arrays this one handed out
                    # (a Session's store never writes into them) needs no copy in
                    written_back = [k for k in updates if k in self._variables]
                    for key in written_back:
                        api.copyto(self._variables[key], updates[key])
                except BaseException:
                    _end_quietly(stream)  # leave the stream usable; report the first error
                    raise
                graph = stream.end_capture()
        except Exception as exc:  # noqa: BLE001 - any failure means: run the plain schedule
            detail = " ".join(line.strip() for line in str(exc).splitlines())
            self.fall_back(f"the capture failed: {type(exc).__name__}: {detail[:300]}")
            return
        self._pool, self._stream, self._graph = pool, stream, graph
        self._values, self._updates = values, updates
        self._written_back, self._handed = tuple(written_back), {}
        self.reason = None
        self._set_execution(REPLAY)


class _CaptureModule:
    """The executor's array module with ``matmul`` replaced (see cuda_gemm.py)."""

    def __init__(self, xp: Any, matmul: Any) -> None:
        self._xp, self.matmul = xp, matmul

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)


@contextlib.contextmanager
def _capturable(executor: Any, matmul: Any) -> Iterator[None]:
    """While capturing: kernels get an xp whose matmul is recordable, and the schedule's
    direct ``xp.matmul`` calls (the registry's ufunc fast path) are pointed at it too."""
    xp = executor.xp
    names = [k for k, v in executor._ns.items() if v is xp.matmul]
    executor.xp = _CaptureModule(xp, matmul)
    executor._ns.update(dict.fromkeys(names, matmul))
    try:
        yield
    finally:
        executor.xp = xp
        executor._ns.update(dict.fromkeys(names, xp.matmul))


def _end_quietly(stream: Any) -> None:
    try:
        stream.end_capture()
    except Exception:  # noqa: BLE001 - an invalidated capture: its graph is not wanted
        pass


def with_cuda_graph(executor: Any, plan: Any, enabled: bool = True, api: Any = None) -> Any:
    """``executor`` wrapped for CUDA-graph replay where its graph allows one, else itself
    (then ``plan.execution`` says why it runs the plain schedule)."""
    api = api if api is not None else getattr(executor, "xp", None)
    reason = replay_blocker(executor.graph, executor.device, enabled, api)
    if reason is None:
        return GraphReplay(executor, plan, api)
    if plan is not None:
        plan.execution = f"{PLAIN} ({reason})"
    return executor
