"""Every registry kernel's ``xp.`` calls exist in cupy, with the keywords the kernel passes.

Kernels are written once against ``xp`` (numpy or cupy), but CI has no GPU, so nothing runs
them on cupy there. This test reads each kernel's source (its AST, and that of the helpers
it calls) and checks each ``xp.name(...)``, ``getattr(xp, name)(...)`` (the name resolved
from the kernel's closure) and array method call (``x.sum(axis=..., out=...)``) against
cupy's namespace: the attribute exists, and every keyword the kernel passes is one the cupy
callable accepts (read from its signature, or from the first line of a Cython docstring).
Importing cupy needs no GPU; the test skips only where cupy is not installed.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterator
from functools import cache
from types import CodeType, FunctionType
from typing import Any

import numpy as np
import pytest
from tapeflow.runtime.registry import REGISTRY

cupy = pytest.importorskip("cupy")


@cache
def _module_nodes(filename: str) -> dict[int, list[ast.AST]]:
    """Function and lambda nodes of one source file, by the line they start on."""
    with open(filename, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    by_line: dict[int, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            by_line.setdefault(node.lineno, []).append(node)
    return by_line


def _arg_names(node: ast.AST) -> list[str]:
    args = node.args  # type: ignore[attr-defined]
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]


def _nodes_of(code: CodeType) -> list[ast.AST]:
    """The AST nodes of a code object: those on its first line with its argument names (two
    lambdas on one line with the same arguments both come back, which only adds calls)."""
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    candidates = _module_nodes(code.co_filename).get(code.co_firstlineno, [])
    found = [n for n in candidates if _arg_names(n) == names]
    assert found, f"no source found for {code.co_name} at {code.co_filename}:{code.co_firstlineno}"
    return found


def _closure(fn: FunctionType) -> dict[str, Any]:
    cells = fn.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(fn.__code__.co_freevars, cells,
                                                          strict=True)}


def _is_project_function(value: Any) -> bool:
    return isinstance(value, FunctionType) and "tapeflow" in (value.__module__ or "")


def _functions_of(kernel: FunctionType) -> Iterator[tuple[FunctionType, ast.AST]]:
    """The kernel and, transitively, every project function it calls by name."""
    seen: set[CodeType] = set()
    todo = [kernel]
    while todo:
        fn = todo.pop()
        if fn.__code__ in seen:
            continue
        seen.add(fn.__code__)
        scope = {**fn.__globals__, **_closure(fn)}
        for node in _nodes_of(fn.__code__):
            yield fn, node
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and _is_project_function(scope.get(sub.id)):
                    todo.append(scope[sub.id])


def _keywords(call: ast.Call) -> set[str]:
    return {k.arg for k in call.keywords if k.arg is not None}


def xp_uses(kernel: FunctionType) -> list[tuple[str, tuple[str, ...], set[str] | None]]:
    """(where, attribute path, keywords passed or None when not called) for each xp use."""
    uses: list[tuple[str, tuple[str, ...], set[str] | None]] = []
    for fn, node in _functions_of(kernel):
        where = f"{fn.__code__.co_filename.split('/')[-1]}:{getattr(node, 'lineno', '?')}"
        closure = _closure(fn)
        calls = {id(c.func): c for c in ast.walk(node) if isinstance(c, ast.Call)}
        for sub in ast.walk(node):
            path = _xp_path(sub, closure)
            if path is None:
                continue
            call = calls.get(id(sub))
            uses.append((where, path, None if call is None else _keywords(call)))
    return _outermost(uses)


def _xp_path(node: ast.AST, closure: dict[str, Any]) -> tuple[str, ...] | None:
    """``xp.a.b`` -> ("a", "b"); ``getattr(xp, name)`` -> (closure[name],); else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "xp" and parts:
        return tuple(reversed(parts))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "getattr" and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "xp"):
        name = node.args[1]
        value = name.value if isinstance(name, ast.Constant) else closure.get(name.id)  # type: ignore[attr-defined]
        assert isinstance(value, str), f"getattr(xp, {ast.unparse(name)}) is not resolvable"
        return (*[value], *reversed(parts))
    return None


def _outermost(uses: list[Any]) -> list[Any]:
    # ``xp.add.at`` also walks through ``xp.add``: keep a prefix only when it is called itself
    longer = {path[:-1] for _, path, _ in uses if len(path) > 1}
    return [u for u in uses if u[1] not in longer or u[2] is not None]


def method_calls(kernel: FunctionType) -> list[tuple[str, str, set[str]]]:
    """(where, method, keywords) for calls ``<array>.method(...)`` of ndarray methods."""
    found = []
    for fn, node in _functions_of(kernel):
        where = f"{fn.__code__.co_filename.split('/')[-1]}:{getattr(node, 'lineno', '?')}"
        for sub in ast.walk(node):
            if not (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)):
                continue
            owner = sub.func.value
            if isinstance(owner, ast.Name) and owner.id in ("xp", "F", "generator"):
                continue
            if _xp_path(sub.func, _closure(fn)) is not None:
                continue
            if hasattr(np.ndarray, sub.func.attr):
                found.append((where, sub.func.attr, _keywords(sub)))
    return found


def accepted_keywords(fn: Any) -> set[str] | None:
    """Keyword names ``fn`` takes (None: any), from its signature or its docstring's first
    line (Cython methods), and for ``**kwargs`` from the docstring's ``Args:`` section."""
    try:
        params = list(inspect.signature(fn).parameters.values())
        names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    except (TypeError, ValueError):
        names, var_kw = _doc_signature(fn)
    if var_kw:
        documented = set(re.findall(r"^\s+(\w+) \(", _doc(fn), re.MULTILINE))
        return names | documented if documented else None
    return names


def _doc(fn: Any) -> str:
    doc = getattr(fn, "__doc__", None) or ""
    if not doc and callable(fn):  # a ufunc object: its __call__ is documented
        doc = type(fn).__call__.__doc__ or ""
    return doc


def _doc_signature(fn: Any) -> tuple[set[str], bool]:
    # (cupy's ufunc docstrings escape the star for Sphinx: "x1, x2, /, out=None, \\*, ...")
    first = textwrap.dedent(_doc(fn)).strip().splitlines()[0].replace("\\*", "*")
    match = re.match(r"[\w.]+\((.*)\)", first.split(" -> ")[0])
    assert match, f"{fn!r} has neither a signature nor a signature line in its docstring"
    params = re.sub(r"\b[A-Za-z_]\w*\s+(\*{0,2}[A-Za-z_]\w*)", r"\1", match.group(1))
    args = ast.parse(f"def f({params}): pass").body[0].args  # type: ignore[attr-defined]
    names = {a.arg for a in args.args + args.kwonlyargs} - {"self"}
    return names, args.kwarg is not None


def _kernels() -> list[tuple[str, FunctionType]]:
    return [(name, op.kernel) for name, op in sorted(REGISTRY.items())
            if isinstance(op.kernel, FunctionType)]


def problems_of(kernel: FunctionType) -> list[str]:
    """What in ``kernel`` (and the helpers it calls) cupy lacks, one line each."""
    checks: list[tuple[str, Any, str, set[str] | None]] = []
    for where, path, keywords in xp_uses(kernel):
        target: Any = cupy
        for part in path:
            target = getattr(target, part, None)
        checks.append((where, target, "xp." + ".".join(path), keywords))
    for where, method, keywords in method_calls(kernel):
        checks.append((where, getattr(cupy.ndarray, method, None), f"ndarray.{method}", keywords))
    problems = []
    for where, target, shown, keywords in checks:
        if target is None:
            problems.append(f"{where}: {shown} does not exist in cupy {cupy.__version__}")
            continue
        accepted = accepted_keywords(target) if keywords else None
        if accepted is not None and not keywords <= accepted:
            problems.append(f"{where}: {shown} does not take {sorted(keywords - accepted)} "
                            f"in cupy (it takes {sorted(accepted)})")
    return problems


@pytest.mark.parametrize(("name", "kernel"), _kernels(), ids=[n for n, _ in _kernels()])
def test_kernel_uses_only_what_cupy_has(name: str, kernel: FunctionType) -> None:
    problems = problems_of(kernel)
    assert not problems, f"op '{name}':\n" + "\n".join(problems)


def _numpy_only_kernel(xp: Any, x: Any, out: Any = None) -> Any:
    y = xp.take(x, [0], axis=0, mode="raise", out=out)  # cupy.take has no mode=
    return xp.fancy_nonexistent(y.sum(where=y > 0))  # nor these


def test_the_check_reports_what_cupy_lacks() -> None:
    found = "\n".join(problems_of(_numpy_only_kernel))
    assert "xp.take does not take ['mode']" in found
    assert "xp.fancy_nonexistent does not exist" in found
    assert "ndarray.sum does not take ['where']" in found


def test_the_inspection_sees_xp_calls_keywords_and_closures() -> None:
    # a check of the checker: it must find what the kernels of these ops are known to use
    uses = {path: kw for _, path, kw in xp_uses(REGISTRY["add"].kernel)}
    assert uses == {("add",): {"out"}}  # getattr(xp, ufunc) with ufunc from the closure
    take = {path for _, path, _ in xp_uses(REGISTRY["scatter_add"].kernel)}
    assert {("zeros",), ("moveaxis",), ("add", "at")} <= take
    methods = {m for _, m, _ in method_calls(REGISTRY["sum"].kernel)}
    assert methods == {"sum"}
    assert accepted_keywords(cupy.ndarray.sum) >= {"axis", "keepdims", "out", "dtype"}
    assert "out" in accepted_keywords(cupy.add)
    assert "where" in accepted_keywords(cupy.copyto)
    assert "bogus" not in accepted_keywords(cupy.matmul)


def test_cupy_specific_paths_are_declared_in_the_registration() -> None:
    # a kernel that branches on the array module says why in its registration (cupy=...),
    # and only such a kernel does
    branching = set()
    for name, kernel in _kernels():
        if any(isinstance(n, ast.Compare) and "xp is" in ast.unparse(n)
               for _, node in _functions_of(kernel) for n in ast.walk(node)):
            branching.add(name)
    declared = {name for name, op in REGISTRY.items() if op.cupy}
    assert branching == declared
    assert "sparse_softmax_cross_entropy" in branching  # (the check must see one)


def test_fast_paths_name_what_cupy_has() -> None:
    # the executor and the eager dispatcher call these directly, bypassing the kernel
    problems = []
    for name, op in sorted(REGISTRY.items()):
        if op.ufunc and "out" not in (accepted_keywords(getattr(cupy, op.ufunc, None)) or {"out"}):
            problems.append(f"{name}: cupy.{op.ufunc} takes no out=")
        if op.ufunc and getattr(cupy, op.ufunc, None) is None:
            problems.append(f"{name}: no cupy.{op.ufunc}")
        if op.reduce_ufunc:
            reduce = getattr(getattr(cupy, op.reduce_ufunc, None), "reduce", None)
            if reduce is None or not {"axis", "out", "keepdims"} <= accepted_keywords(reduce):
                problems.append(f"{name}: no cupy.{op.reduce_ufunc}.reduce(axis, out, keepdims)")
        if op.method and not hasattr(cupy.ndarray, op.method):
            problems.append(f"{name}: no cupy.ndarray.{op.method}")
    assert not problems, "\n".join(problems)
    assert any(op.ufunc for op in REGISTRY.values())  # (there are fast paths to check)
