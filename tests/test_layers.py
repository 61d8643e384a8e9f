"""The house rules of ../shared/STYLE.md, checked on the source: imports run downward through the folders' layer
order, no module imports itself back through others (no cycle), no module is over 300 lines, and printing help
loads no heavy library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "latentlab"

# Lowest first. A module may import from its own layer's package or from any layer below, never above.
LAYERS = [
    {"_version", "errors", "files", "memory"},
    {"config"},
    {"presets", "images", "_image_layout", "_image_objects", "_image_paper", "_image_pixels"},
    {"data"},
    {"models"},
    {"runs"},
    {"training"},
    {"analysis"},
    {"figures"},
    {"report", "export", "benchmark", "runner"},
    {"cli", "web", "__main__", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Every latentlab module `path` imports, at module level or inside functions (a lazy import is still one)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("latentlab")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base
                                                                                                    else []))
            if base.startswith("latentlab"):
                modules = _modules()
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer() -> None:
    unknown = sorted({_layer(m) for m in _modules()} - set(RANK))
    assert not unknown, f"add these folders or modules to LAYERS (and to STYLE's layout): {unknown}"


def test_imports_run_downward() -> None:
    wrong = []
    for name, path in _modules().items():
        for target in _imports(name, path):
            if RANK[_layer(target)] > RANK[_layer(name)]:
                wrong.append(f"{name} imports {target} (layer {_layer(target)} is above {_layer(name)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: {t for t in _imports(name, path) if t in modules and t != name} for name, path in modules.items()}
    # The root package only re-exports lazily (PEP 562), and every module's import of the package root is an
    # import of a finished `latentlab._version`-style name: leave the root out of the cycle search.
    graph = {k: v - {"latentlab"} for k, v in graph.items() if k != "latentlab"}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_short(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= 300, f"{path.relative_to(SRC)} has {n} lines; split it by concern (STYLE: 300 at most)"


def test_help_and_presets_load_nothing_heavy() -> None:
    code = ("import sys\nfrom latentlab.cli import main\nimport contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['presets'])\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"printing help imported {out.strip()}"


def test_plain_training_loads_no_optional_extra() -> None:
    # The extras (TensorBoard, ONNX, the notebook's kernel) cost seconds to import: only their features load them.
    code = ("import sys\nimport numpy as np\nimport latentlab\nfrom latentlab.config import override\n"
            "x = np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8)\n"
            "cfg = override(latentlab.preset_config('mnist-simple'), {'train.epochs': 1, 'train.device': 'cpu'})\n"
            "latentlab.train(cfg, x, x[:16], None, quiet=True)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorboard', 'onnx', 'onnxruntime', "
            "'onnxscript', 'nbclient', 'ipykernel'}), 'torch.utils.tensorboard' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] False", f"plain training imported {out.strip()}"


def test_the_package_namespace_is_the_public_api():
    # STYLE 8: what `dir(latentlab)` and tab completion show is __all__ and the subpackages, not the helpers the
    # package imports for itself (Any, annotations, importlib were there); each listed subpackage is reachable.
    code = ("import latentlab\nextra = set(dir(latentlab)) - set(latentlab.__all__)\nprint(sorted(extra))\n"
            "print(all(getattr(latentlab, n).__name__ == f'latentlab.{n}' for n in extra))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == str(sorted(["analysis", "benchmark", "data", "export", "figures", "models", "report",
                                 "training"]))
    assert out[1] == "True"
