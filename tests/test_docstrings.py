"""Every exported name (`latentlab.__all__` and each subpackage face's `__all__`) has a numpydoc docstring: a
summary; `Parameters` naming each parameter; `Returns` (or `Yields`) unless it returns None; `Raises` when its
own body raises; a shape or dtype wherever arrays or tensors go in or out. Public methods of exported classes,
defined by the class itself, are held to the same sections. Constants carry a docstring under their assignment
(what mkdocstrings shows). The API reference of the site is generated from these docstrings."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
docs_hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_hooks)

SECTION = re.compile(r"^(Parameters|Returns|Yields|Raises|Attributes|Notes|Examples|See Also|Warns)\n-{3,}$", re.M)
ARRAY = re.compile(r"ndarray|\bTensor\b")
SHAPE = re.compile(r"\((?:N|B|n|C|H|K|M)\b|shape|dtype|uint8|float32|float64|int64")


def sections(doc: str) -> dict[str, str]:
    """numpydoc section title -> its text ("" for the summary and the paragraphs before the first section)."""
    parts = SECTION.split(doc)
    out = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        out[title] = body
    return out


def documented_names(body: str) -> set[str]:
    """The names a Parameters/Attributes section describes (`x`, `x, y : int`, `*args`)."""
    names = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            for name in line.split(" : ")[0].split(","):
                names.add(name.strip().lstrip("*"))
    return names


def raises_itself(obj: Any) -> bool:
    """Whether the function's own body (not nested functions) has a `raise` with an exception."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError):
        return False
    fn = tree.body[0]

    def walk(node: ast.AST) -> bool:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                return True
            if walk(child):
                return True
        return False

    return walk(fn)


def problems_of_callable(obj: Any, where: str, is_class: bool = False) -> list[str]:
    doc = inspect.getdoc(obj) if not is_class else inspect.cleandoc(obj.__doc__ or "")
    if not doc or not doc.strip():
        return [f"{where}: no docstring"]
    found = sections(doc)
    out = []
    target = obj.__init__ if is_class else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        sig = None
    if sig is not None and not (is_class and target is object.__init__):
        params = [p for p in sig.parameters if p not in ("self", "cls")]
        if is_class and issubclass(obj, BaseException) and "__init__" not in vars(obj):
            params = []
        if params:
            key = "Parameters" if "Parameters" in found else None
            missing = set(params) - documented_names(found.get("Parameters", "")) if key else set(params)
            if missing:
                out.append(f"{where}: Parameters misses {sorted(missing)}")
        ret = sig.return_annotation
        if not is_class and ret not in (None, "None", inspect.Signature.empty) and \
                not ({"Returns", "Yields"} & set(found)):
            out.append(f"{where}: no Returns section")
        annotations = " ".join(str(p.annotation) for p in sig.parameters.values()) + " " + str(ret)
        if ARRAY.search(annotations) and not SHAPE.search(doc):
            out.append(f"{where}: takes or returns arrays but gives no shape or dtype")
    if not is_class and raises_itself(obj) and "Raises" not in found:
        out.append(f"{where}: raises but has no Raises section")
    return out


def public_methods(cls: type) -> dict[str, Any]:
    """The public methods and properties a class defines itself (not those it inherits)."""
    out = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        if inspect.isfunction(value):
            out[name] = value
    return out


def constant_docstring(path: str) -> str | None:
    """The string literal right under `NAME = ...` at the top of the defining module."""
    module, _, name = path.rpartition(".")
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text())
    body = tree.body
    for i, node in enumerate(body):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and i + 1 < len(body):
            nxt = body[i + 1]
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                return nxt.value.value
    return None


def problems(face: str, name: str, path: str) -> list[str]:
    obj = getattr(importlib.import_module(face), name)
    where = f"{face}.{name}"
    if inspect.isclass(obj):
        out = problems_of_callable(obj, where, is_class=True)
        for method_name, method in public_methods(obj).items():
            out += problems_of_callable(method, f"{where}.{method_name}")
        return out
    if callable(obj) and inspect.isfunction(obj):
        return problems_of_callable(obj, where)
    return [] if constant_docstring(path) else [f"{where}: a constant without a docstring under its assignment"]


API = [(face, name, path) for face, names in docs_hooks.public_api().items() for name, path in names.items()]
UNIQUE = list({path: (face, name, path) for face, name, path in reversed(API)}.values())


def test_the_section_parser_reads_numpydoc():
    doc = "Sum.\n\nParameters\n----------\nx, y : int\n    Terms.\n*rest : int\n\nReturns\n-------\nint\n"
    found = sections(doc)
    assert documented_names(found["Parameters"]) == {"x", "y", "rest"} and "Returns" in found


def test_the_checker_finds_missing_sections():
    def bare(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        return x

    bare.__doc__ = "A summary only."
    found = problems_of_callable(bare, "bare")
    assert any("Parameters" in p for p in found) and any("Returns" in p for p in found)
    assert any("Raises" in p for p in found)


@pytest.mark.parametrize(("face", "name", "path"), UNIQUE, ids=[f"{f}.{n}" for f, n, _ in UNIQUE])
def test_exported_name_is_documented(face, name, path):
    assert not problems(face, name, path), "\n".join(problems(face, name, path))
