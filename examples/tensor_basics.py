"""Tensors in tapeflow.dynamic, like the first chapter of a PyTorch book.

Every line below is ordinary PyTorch; only the import differs. Run it with
``.venv/bin/python examples/tensor_basics.py`` (it takes well under a second).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tapeflow.dynamic as torch
from tapeflow.visualize import dot_available
from tapeflow.visualize.storage import storage_example


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 60 - len(title)))


def creation() -> None:
    section("1. Creating tensors")
    print("torch.tensor([[1, 2], [3, 4]]) ->\n", torch.tensor([[1, 2], [3, 4]]))
    print("torch.zeros(2, 3) ->\n", torch.zeros(2, 3))
    print("torch.ones(2) ->", torch.ones(2), "  torch.full((2,), 7.5) ->", torch.full((2,), 7.5))
    print("torch.arange(5) ->", torch.arange(5), "  torch.arange(0, 1, 0.25) ->",
          torch.arange(0, 1, 0.25))
    print("torch.eye(3) ->\n", torch.eye(3))
    torch.manual_seed(0)
    print("torch.rand(2, 2) (seeded) ->\n", torch.rand(2, 2))
    print("torch.randn(3) ->", torch.randn(3))
    print("torch.FloatTensor(2, 2) is uninitialised storage of size", torch.FloatTensor(2, 2).shape)
    print("torch.LongTensor([1, 2]) ->", torch.LongTensor([1, 2]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    print("x.shape =", x.shape, " x.size(1) =", x.size(1), " x.dim() =", x.dim(),
          " x.numel() =", x.numel(), " x.dtype =", x.dtype, " x.device =", x.device)


def dtypes() -> None:
    section("2. The dtype table")
    rows = [("torch.float32 / torch.float", torch.float32, "FloatTensor"),
            ("torch.float64 / torch.double", torch.float64, "DoubleTensor"),
            ("torch.float16 / torch.half", torch.float16, "HalfTensor"),
            ("torch.int64 / torch.long", torch.int64, "LongTensor"),
            ("torch.int32 / torch.int", torch.int32, "IntTensor"),
            ("torch.int16", torch.int16, "ShortTensor"),
            ("torch.int8", torch.int8, "CharTensor"),
            ("torch.uint8", torch.uint8, "ByteTensor"),
            ("torch.bool", torch.bool, "BoolTensor")]
    print(f"{'dtype':32s} {'bytes':>5s}  legacy type")
    for name, d, legacy in rows:
        print(f"{name:32s} {torch.zeros(1, dtype=d).element_size():5d}  torch.{legacy}")
    print("int tensor + float tensor ->", (torch.tensor([1]) + torch.tensor([0.5])).dtype)
    print("float32 tensor * 2.5      ->", (torch.tensor([1.0]) * 2.5).dtype, "(scalars stay weak)")
    print("x.double(), x.long(), x.to(torch.int8):", torch.tensor([1.7]).double(),
          torch.tensor([1.7]).long(), torch.tensor([1.7]).to(torch.int8))


def arithmetic() -> None:
    section("3. Arithmetic, reductions, comparisons")
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([10.0, 20.0])
    print("a + b (broadcast) ->\n", a + b)
    print("a * 2, 1 / a ->\n", a * 2, "\n", 1 / a)
    print("a @ a ->\n", a @ a)
    print("a.sum() =", a.sum(), " a.mean(dim=0) =", a.mean(dim=0), " a.max() =", a.max())
    values, indices = a.max(dim=1)
    print("a.max(dim=1) -> values", values, "indices", indices)
    print("a > 2 ->\n", a > 2, "\n(a > 2).any() =", (a > 2).any())
    print("a.exp().log() ->\n", a.exp().log())
    print("a.softmax(dim=1) ->\n", a.softmax(dim=1))


def in_place() -> None:
    section("4. In-place operations (trailing underscore)")
    x = torch.ones(3)
    ptr = x.data_ptr()
    x.add_(1).mul_(5)
    x -= 2
    print("ones(3).add_(1).mul_(5) - 2 ->", x, "  same memory:", x.data_ptr() == ptr)
    x.clamp_(max=7.0)
    print("x.clamp_(max=7) ->", x)
    x.zero_()
    print("x.zero_() ->", x)
    g = torch.tensor([-1.0, 2.0, -3.0, 4.0])
    g[g < 0] = 0
    print("g[g < 0] = 0 ->", g)


def indexing_and_shapes() -> None:
    section("5. Indexing, joining, splitting, reshaping")
    x = torch.arange(12).view(3, 4)
    print("x = torch.arange(12).view(3, 4) ->\n", x)
    print("x[1] ->", x[1], "  x[:, 1] ->", x[:, 1], "  x[1, 2] ->", x[1, 2])
    print("x[1:, ::2] ->\n", x[1:, ::2])
    print("x[torch.tensor([2, 0])] ->\n", x[torch.tensor([2, 0])])
    print("x[x > 8] ->", x[x > 8])
    print("torch.cat([x, x]).shape =", torch.cat([x, x]).shape,
          " torch.stack([x, x]).shape =", torch.stack([x, x]).shape)
    print("x.split(2, dim=1) ->", [tuple(p.shape) for p in x.split(2, dim=1)],
          " x.chunk(3) ->", [tuple(p.shape) for p in x.chunk(3)])
    print("x.unsqueeze(0).shape =", x.unsqueeze(0).shape,
          " x.view(1, 3, 4).squeeze().shape =", x.view(1, 3, 4).squeeze().shape)
    print("x.t().shape =", x.t().shape, " x.reshape(-1).shape =", x.reshape(-1).shape,
          " x[0].expand(2, 4) ->\n", x[0].expand(2, 4))


def views_and_numpy() -> None:
    section("6. Views, storage, and the numpy bridge")
    x = torch.arange(6).view(2, 3)
    t = x.t()
    print("x.stride() =", x.stride(), " x.t().stride() =", t.stride(),
          " x.t().is_contiguous() =", t.is_contiguous())
    print("same storage:", x.storage().data_ptr() == t.storage().data_ptr(),
          " x[1].storage_offset() =", x[1].storage_offset())
    print("x.storage() ->")
    print(x.storage())
    t[0, 1] = 100
    print("after t[0, 1] = 100, x ->\n", x)
    try:
        t.view(6)
    except RuntimeError as exc:
        print("t.view(6) ->", str(exc).split(".")[0], "(use reshape, which copies)")
    a = np.zeros(3, dtype=np.float32)
    f = torch.from_numpy(a)
    f[0] = 42
    print("torch.from_numpy(a); f[0] = 42 -> a =", a)
    n = torch.ones(2).numpy()
    print("torch.ones(2).numpy() ->", n, type(n).__name__)


def tiny_backward() -> None:
    section("7. A tiny backward pass")
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    x = torch.tensor([0.5, 0.5, 0.5])
    loss = ((w * x).sigmoid() ** 2).sum()
    print("loss =", loss)
    print("loss.grad_fn =", loss.grad_fn.name(), " next:",
          [fn.name() if fn else None for fn, _ in loss.grad_fn.next_functions])
    loss.backward()
    print("w.grad =", w.grad)
    with torch.no_grad():
        w -= 0.1 * w.grad
    print("after one SGD step, w =", w)
    try:
        loss.backward()
    except RuntimeError as exc:
        print("a second backward ->", str(exc)[:72] + "...")


def main() -> None:
    creation()
    dtypes()
    arithmetic()
    in_place()
    indexing_and_shapes()
    views_and_numpy()
    tiny_backward()
    # the picture of section 6: four views, one storage, the elements each one reads
    out = Path(tempfile.gettempdir(), "storage." + ("svg" if dot_available() else "dot"))
    print("\ndrew the views over their storage:", storage_example().save(out))


if __name__ == "__main__":
    main()
