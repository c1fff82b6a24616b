"""The reverse sweep: ``backward()`` and ``autograd.grad``.

Iterative, never recursive (a 100,000-node chain works): the nodes a gradient reaches
run newest first (a heap on the sequence number), with cotangents in a dict keyed by
node. Broadcasting is undone here, in one place, with the registry's ``sum_to``. Leaves'
``.grad`` is written only after the whole sweep succeeded, so a failed backward leaves
every ``.grad`` as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from heapq import heappop, heappush
from typing import Any

from ..runtime import F, array_module, get
from ..runtime import dtypes as dt
from ..runtime.ops_nn import transposed_reads_cached
from . import dispatch
from .anomaly import ANOMALY, checked_vjp
from .dispatch import wrap
from .grad_mode import GRAD_ENABLED
from .heap import keep_freed_memory
from .tape import FREED_MESSAGE, Meta, Node, display_name, meta_of

_ADD = get("add")
_SUM_TO = get("sum_to")
_TUNED = [False]


def _type_name(array: Any) -> str:
    from ..runtime.dtypes import LEGACY_TENSOR_TYPES

    d = dt.of_array(array)
    prefix = "torch." if type(array).__module__.startswith("numpy") else "torch.cuda."
    name = next(k for k, v in LEGACY_TENSOR_TYPES.items() if v is d)
    return f"{prefix}{name} {list(array.shape)}"


def _version_error(what: str, array: Any, now: int, expected: int) -> RuntimeError:
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{_type_name(array)}]{what} is at version {now}; expected version "
        f"{expected} instead. Hint: the tensor was changed in place after the op that saved it "
        "(an inplace operation such as x += 1, x.mul_(2) or x[i] = v); use an out-of-place op "
        "(x = x + 1) or clone() it first.")


def _check_versions(node: Node) -> None:
    for tensor, version in node.saved:
        if tensor._vc[0] != version:
            fn = tensor._grad_fn
            what = f", which is output 0 of {fn.name()}," if fn is not None else ""
            raise _version_error(what, tensor._array, tensor._vc[0], version)
    if node.ans_vc is not None and node.ans_vc[0] != node.ans_version:
        raise _version_error(f", which is output 0 of {node.name()},", node.ans_array,
                             node.ans_vc[0], node.ans_version)


def _ans(node: Node) -> Any:
    if node.ans_ref is None:
        return None
    out = node.ans_ref()
    if out is None:
        # the output tensor is gone, but its memory and history are not: rebuild it, so a
        # rule that reads it still connects to this node when create_graph records the rule
        out = wrap(node.ans_array, None, node.ans_vc)
        out._grad_fn = node
        out._requires_grad = True
    return out


def _accumulate(store: dict[int, list[Any]], key: Any, grad: Any) -> None:
    entry = store.get(id(key))
    if entry is None:
        store[id(key)] = [key, grad, False]  # [where it goes, gradient, owned by the sweep]
    else:
        entry[1] = F.add(entry[1], grad)


def _fit(grad: Any, like: Any) -> Any:
    """The rule's gradient in the input's shape (undo broadcasting) and dtype."""
    raw = like._array if hasattr(like, "_array") else like
    array = grad._array
    if array.shape != tuple(raw.shape):
        grad = F.sum_to(grad, like)
        array = grad._array
    want = raw.dtype
    if array.dtype != want:
        grad = F.cast(grad, dtype=dt.as_dtype(want))
    return grad


def _fit_array(array: Any, like: Any) -> Any:
    """:func:`_fit` when nothing records: the registry's ``sum_to`` kernel through the
    dispatcher's runner, without wrapping the intermediate (same kernel, same result)."""
    dtype = array.dtype
    if array.shape != tuple(like.shape):
        common = dtype if (like.dtype == dtype and dtype.kind == "f") else None
        array = dispatch._run(_SUM_TO, [array, like], {}, common)
    grad = wrap(array)
    if array.dtype != like.dtype:
        grad = F.cast(grad, dtype=dt.as_dtype(like.dtype))
    return grad


def run_backward(outputs: Sequence[Any], grad_outputs: Sequence[Any], retain_graph: bool,
                 create_graph: bool, inputs: Sequence[Any] | None = None,
                 allow_unused: bool = False) -> tuple[Any, ...] | None:
    """The sweep behind ``Tensor.backward`` (``inputs=None``: accumulate into leaves' .grad)
    and ``autograd.grad`` (return the gradients of ``inputs``; no .grad is touched).

    Nodes run newest first: a max-heap on the sequence number holds every node a gradient
    has reached, and a node's consumers are all newer than it, so each node runs once, after
    every gradient for it has arrived.
    """
    if not _TUNED[0]:
        _TUNED[0] = True
        keep_freed_memory()  # this process trains eagerly: keep freed memory for the next step
    node_grads: dict[int, list[Any]] = {}
    leaf_grads: dict[int, list[Any]] = {}
    ready: list[tuple[int, Node]] = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        g = _root_grad(out, g, i)
        fn = out._grad_fn
        if fn is None:
            _accumulate(leaf_grads, out, g)
        else:
            if id(fn) not in node_grads:
                heappush(ready, (-fn.seq, fn))
            _accumulate(node_grads, fn, g)
    wanted = {id(t._grad_fn): t for t in inputs or () if t._grad_fn is not None}
    captured: dict[int, Any] = {}
    ran: list[Node] = []
    unfed: list[Node] = []  # reached only by edges that carried no gradient
    previous = GRAD_ENABLED[0]
    GRAD_ENABLED[0] = create_graph
    tensor_type = dispatch.Tensor
    # a third gradient reaching the same place is added into the sum of the first two (a
    # buffer this sweep made and nobody else holds) with the registry's add kernel; with
    # create_graph the sums are recorded ops instead, and under anomaly mode checked ones
    in_place = not create_graph and not ANOMALY[0] and dispatch.TRACER[0] is None
    # (operands read transposed by many matmuls are copied row-major once: ops_nn.py)
    reads = transposed_reads_cached() if in_place else nullcontext()
    try:
        with reads:
            while ready:
                node = heappop(ready)[1]
                ran.append(node)
                g = node_grads.pop(id(node))[1]
                if node.freed:
                    raise RuntimeError(FREED_MESSAGE)
                if node.saved or node.ans_vc is not None:
                    _check_versions(node)
                if node.pre_hooks:
                    for hook in list(node.pre_hooks):
                        replaced = hook(g)
                        if replaced is not None:
                            g = replaced
                if wanted and id(node) in wanted:
                    captured[id(node)] = g
                inputs_ = node.inputs
                ref = node.ans_ref
                ans = None if ref is None else ref()
                if ans is None and ref is not None:
                    ans = _ans(node)  # the output tensor is gone: rebuilt from what the node kept
                if ANOMALY[0]:
                    grads = checked_vjp(node, g, ans)
                else:
                    grads = node.op.vjp(g, ans, inputs_, node.attrs, node.needed)
                for edge, grad, x in zip(node.next, grads, inputs_, strict=True):
                    if edge is None:
                        continue
                    is_node = type(edge) is Node
                    if grad is None:
                        if is_node:
                            unfed.append(edge)
                        continue
                    if type(grad) is not tensor_type:
                        grad = grad if hasattr(grad, "_array") else wrap(grad)
                    # the input's shape and dtype (undo broadcasting): only when they differ
                    raw = x if type(x) is Meta else getattr(x, "_array", x)
                    array = grad._array
                    if array.shape != raw.shape or array.dtype != raw.dtype:
                        grad = _fit_array(array, raw) if in_place else _fit(grad, x)
                    store = node_grads if is_node else leaf_grads
                    key = id(edge)
                    found = store.get(key)
                    if found is None:
                        store[key] = [edge, grad, False]
                        if is_node:
                            heappush(ready, (-edge.seq, edge))
                    elif found[2]:
                        total = found[1]._array
                        _ADD.kernel(array_module(total), total, grad._array, out=total)
                    else:
                        found[1] = F.add(found[1], grad)
                        found[2] = in_place
    finally:
        GRAD_ENABLED[0] = previous
    if not retain_graph:
        for node in ran:
            if node.holds_tensors or node.ans_vc is not None:
                _free(node)
        if unfed:
            _free_unfed(unfed)
    if inputs is not None:
        return _collect(inputs, leaf_grads, captured, allow_unused)
    _store_leaf_grads(leaf_grads, create_graph)
    return None


def _free_unfed(starts: list[Node]) -> None:
    """Frees the nodes that no gradient reached (behind a rule that returned None): they
    belong to the graph this backward consumed too."""
    seen: set[int] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.holds_tensors or node.ans_vc is not None:
            _free(node)
        stack.extend(e for e in node.next if type(e) is Node and id(e) not in seen)


def _root_grad(out: Any, g: Any, i: int) -> Any:
    if g is None:
        if out._array.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        array = out._array
        return wrap(get("full_like").kernel(array_module(array), array, value=1))
    g = g if hasattr(g, "_array") else wrap(g)
    if tuple(g._array.shape) != tuple(out._array.shape):
        raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                           f"torch.Size({list(g._array.shape)}) and output[{i}] has a shape of "
                           f"torch.Size({list(out._array.shape)}).")
    return g


def _free(node: Node) -> None:
    """Drops what ``node`` saved, so a later backward through it raises. Its inputs become
    shape and dtype only; a node whose rule reads no saved data (a custom Function's, whose
    ctx keeps what it needs) is not marked freed: a second backward through it works, as in
    PyTorch. Nodes that never kept a tensor need no visit at all."""
    if node.holds_tensors:
        node.inputs = tuple([x if type(x) is Meta or not hasattr(x, "_array")
                             else meta_of(x._array) for x in node.inputs])
        node.holds_tensors = False
    if node.saved or node.ans_vc is not None:
        node.freed = True
        node.saved = []
        node.ans_ref = node.ans_array = node.ans_vc = None


def _collect(inputs: Sequence[Any], leaf_grads: dict[int, list[Any]], captured: dict[int, Any],
             allow_unused: bool) -> tuple[Any, ...]:
    result = []
    for t in inputs:
        if t._grad_fn is None:
            entry = leaf_grads.get(id(t))
            grad = entry[1] if entry is not None else None
        else:
            grad = captured.get(id(t._grad_fn))
        if grad is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        result.append(grad)
    return tuple(result)


def _store_leaf_grads(leaf_grads: dict[int, list[Any]], create_graph: bool) -> None:
    # run the leaves' hooks first: if one raises, no .grad has been touched yet
    final = []
    for leaf, grad, owned in leaf_grads.values():
        if leaf._hooks:
            owned = False  # a hook may keep the tensor it was shown
            for hook in list(leaf._hooks):
                replaced = hook(grad)
                if replaced is not None:
                    grad = replaced
        final.append((leaf, grad, owned))
    for leaf, grad, owned in final:
        if not create_graph:
            grad = wrap(grad._array) if grad._requires_grad else grad
        if leaf._grad is None:
            # a tensor of its own (one gradient can reach two leaves, or be the caller's
            # `gradient`), so a later in-place update of one .grad touches nothing else; a
            # sum this sweep made is already one
            if create_graph:
                leaf._grad = grad
            else:
                leaf._grad = grad if owned else wrap(grad._array.copy())
        elif create_graph:
            leaf._grad = F.add(leaf._grad, grad)
        else:
            total = leaf._grad._array
            _ADD.kernel(array_module(total), total, grad._array, out=total)
            leaf._grad._vc[0] += 1


__all__ = ["display_name", "run_backward"]
