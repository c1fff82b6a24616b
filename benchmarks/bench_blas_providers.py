"""GEMM providers on the RNN-large step's matrix products: GFLOP/s per provider and shape.

RNN-large (B=64, T=50, D=128, H=512) runs two kinds of products. Dynamic mode runs one
per step and per gradient: ``x[:, t] @ w_ih`` (a strided slice), ``h @ w_hh``, and in the
backward ``g @ w_hh.T`` and the thin weight-gradient terms ``h.T @ g`` and ``x[:, t].T @ g``
(inner dimension B=64). Static mode merges the products that share an operand across steps
(``static/compiler/dot_merge.py``), in blocks of ``block_size(T)`` = 7 steps: one
``X @ w_ih`` per block, one ``H.T @ G`` and one ``X.T @ G`` per block for the weight
gradients (inner dimension 7*B = 448), and keeps ``h @ w_hh`` per step (its backward reads a
row-major copy of ``w_hh.T``, so it is the same shape). The operands below are laid out as
each mode's kernels receive them.

Providers: numpy's matmul (its bundled OpenBLAS; the kernel it runs is printed), MKL's
CBLAS through ctypes (``tapeflow.runtime.blas``; ``pip install mkl``), and BLIS through the
``blis`` package's ``blis.py.gemm`` (``pip install blis``; it takes C-contiguous operands
only, so the strided slices are not run, and its float64 path ignores the transpose flags
when sizing the product, so transposed float64 products are not run either). Every
provider runs with one thread and is timed in CPU time (wall time on a shared machine
counts the other processes too); rounds interleave the providers so a slow spell does not
land on one of them; each cell is the median over rounds. Each provider's
result is checked against a float64 product before timing.

    python benchmarks/bench_blas_providers.py [--rounds 9] [--dtypes float32,float64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from typing import Any

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy loads its BLAS

import numpy as np  # noqa: E402
from tapeflow.runtime import blas  # noqa: E402
from tapeflow.static.compiler.dot_merge import block_size  # noqa: E402

B, T, D, H = 64, 50, 128, 512
K = block_size(T) * B  # rows of a merged block: the static products' inner dimension

#: (label, m, k, n, a transposed, b transposed, a is a strided x[:, t] slice)
SHAPES = [
    ("dynamic fwd  x[:,t] @ w_ih", B, D, H, False, False, True),
    ("both    fwd  h @ w_hh", B, H, H, False, False, False),
    ("dynamic bwd  g @ w_hh.T", B, H, H, False, True, False),
    ("dynamic bwd  h.T @ g (k=64)", H, B, H, True, False, False),
    ("dynamic bwd  x[:,t].T @ g (k=64)", D, B, H, True, False, True),
    ("static  fwd  X @ w_ih (a block)", K, D, H, False, False, False),
    ("static  bwd  H.T @ G (a block)", H, K, H, True, False, False),
    ("static  bwd  X.T @ G (a block)", D, K, H, True, False, False),
]


def operands(m: int, k: int, n: int, ta: bool, tb: bool, strided: bool, dtype: str,
             rng: np.random.Generator):
    """a (m, k) and b (k, n) as views of stored arrays laid out as the kernel gets them."""
    stored_a = (k, m) if ta else (m, k)
    if strided:  # x[:, t] of a (rows, T, cols) batch: rows T*cols elements apart
        a_base = rng.standard_normal((stored_a[0], T, stored_a[1])).astype(dtype)[:, T // 2]
    else:
        a_base = rng.standard_normal(stored_a).astype(dtype)
    b_base = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a_base, b_base, (a_base.T if ta else a_base), (b_base.T if tb else b_base)


def providers(a_base, b_base, a, b, out, ta: bool, tb: bool, strided: bool) -> dict:
    """name -> a call computing ``out = a @ b`` with that provider (those that run here)."""
    calls = {"numpy (OpenBLAS)": lambda: blas.gemm(a, b, out, "numpy")}
    if "mkl" in blas.available():
        calls["mkl"] = lambda: blas.gemm(a, b, out, "mkl")
    try:
        import blis.py as blis_py
    except ImportError:
        return calls
    if not strided and (a.dtype == np.float32 or not (ta or tb)):
        calls["blis"] = lambda: blis_py.gemm(a_base, b_base, out=out, trans1=ta, trans2=tb,
                                             beta=0.0)
    return calls


def measure(label: str, m: int, k: int, n: int, ta: bool, tb: bool, strided: bool,
            dtype: str, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a_base, b_base, a, b = operands(m, k, n, ta, tb, strided, dtype, rng)
    out = np.empty((m, n), dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    calls = providers(a_base, b_base, a, b, out, ta, tb, strided)
    tolerance = 1e-4 if dtype == "float32" else 1e-12
    for name, call in calls.items():
        call()
        error = float(np.abs(out - exact).max() / np.abs(exact).max())
        if error > tolerance:
            raise AssertionError(f"{name} got {label} ({dtype}) wrong: relative error {error}")
    flops = 2.0 * m * n * k
    calls_per_round = max(3, int(3e8 / flops))  # about 3 ms of work per provider and round
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.process_time()  # CPU time: one thread, and steadier than wall time
            for _ in range(calls_per_round):  # on a shared machine
                call()
            times[name].append((time.process_time() - start) / calls_per_round)
    return {name: flops / statistics.median(ts) / 1e9 for name, ts in times.items()}


def rnn_gemms_chosen(spec: dict):
    """The GEMMs of the compiled static step and nothing else: the benchmark's step
    (``compare/step_models.py``) compiled with ``CompileOptions(blas="auto")``, and each
    ``matmul`` and ``addmm`` node of its program replayed once per step, in program order,
    by the library ``program.plan.providers`` gives it: a matmul as that library's product,
    an addmm as its product added into the node's output (MKL with GEMM's beta = 1, numpy
    a product then an add, as ``blas.gemm_add``), MKL's calls bound once as the static
    executor binds them. Each output, and each input that fills its planned buffer, lies at
    its offset of the plan's arena (so the replay reuses memory, and caches, as the step
    does); other inputs (weights, slices of the fed batch) are arrays of their own, one per
    node (a weight read by 49 products is one array). The floor
    under the static step with those choices (the ``numpy-gemms-auto`` row of
    ``bench_steps.py``; ``spec``: its workload with ``"dtype"``)."""
    from tapeflow.compare.step_models import compiled_step
    from tapeflow.static.compiler import CompileOptions
    from tapeflow.static.compiler.autotune import factors

    program = compiled_step(spec, CompileOptions(blas="auto"))
    graph, chosen = program.graph, program.plan.providers
    rng = np.random.default_rng(0)
    plan = program.plan
    arena = rng.uniform(-0.1, 0.1, plan.arena_bytes // 4 + 16).astype(np.float32)

    def array(nid: int, dtype: Any) -> np.ndarray:
        shape, buffer = graph[nid].shape, plan.buffer_of.get(nid)
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if buffer is None or buffer not in plan.offsets or plan.nbytes.get(buffer) != size:
            return rng.uniform(-1, 1, shape).astype(dtype)  # (not in the arena, or a slice)
        start = plan.offsets[buffer]
        return arena.view(np.uint8)[start:start + size].view(dtype).reshape(shape)

    stored: dict[int, np.ndarray] = {}  # input node id -> its array
    calls, providers, kept = [], [], []
    for n in graph.nodes:
        if n.kind != "call" or n.op not in ("matmul", "addmm"):
            continue
        dtype = n.dtype.np
        a, b = (stored[i] if i in stored else stored.setdefault(i, array(i, dtype))
                for i in factors(n))
        a, b = (a.T if n.attrs.get("transpose_a") else a), \
            (b.T if n.attrs.get("transpose_b") else b)
        out = array(n.id, dtype)
        provider = chosen.get(n.id, blas.NUMPY)
        beta = 1.0 if n.op == "addmm" else 0.0
        bound = blas.mkl_call(a, b, out, beta) if provider == blas.MKL else None
        if bound is not None:
            calls.append(partial(bound[0], *bound[1]))
        else:
            calls.append(partial(blas.gemm_add if beta else blas.gemm, a, b, out, provider))
        providers.append(provider)
        kept.append((a, b, out))

    def step(x: np.ndarray, labels: np.ndarray) -> float:
        for call in calls:
            call()
        return 0.0

    step.providers = providers  # type: ignore[attr-defined]
    step.operands = (arena, kept)  # type: ignore[attr-defined]  # (bound calls hold addresses)
    return step


def describe_blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    rows = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture', '-')} "
            f"threads={i.get('num_threads')} ({os.path.basename(i.get('filepath', ''))})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    blas.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32),
              np.empty((2, 2), np.float32), "mkl")  # load MKL, so threadpoolctl sees it
    print(f"load: {os.getloadavg()[0]:.2f}  OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"BLAS: {describe_blas()}")
    for dtype in args.dtypes.split(","):
        print(f"\n{dtype}: GFLOP per CPU second, one thread, median of {args.rounds} "
              "interleaved rounds")
        rows = [(label, dims, measure(label, *dims, dtype=dtype, rounds=args.rounds))
                for label, *dims in SHAPES]
        header = list(dict.fromkeys(name for *_, rates in rows for name in rates))
        print(f"{'product':<34} {'m x k x n':>14} " + " ".join(f"{h:>16}" for h in header)
              + "  mkl/numpy")
        for label, (m, k, n, *_), rates in rows:
            cells = " ".join(f"{rates[h]:>16.1f}" if h in rates else f"{'-':>16}"
                             for h in header)
            ratio = rates.get("mkl", float("nan")) / rates["numpy (OpenBLAS)"]
            print(f"{label:<34} {f'{m}x{k}x{n}':>14} {cells}  {ratio:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
