"""MkDocs hooks: the pages' generated parts, made from the code at build time so they are never written twice.

A page asks for a part with a marker line:

- `<!-- generated: cli -->`: every command's `--help`, from `latentlab.cli.parser.build_parser`;
- `<!-- generated: api -->`: one mkdocstrings block per public name (`latentlab.__all__` and each subpackage's
  face), each documented once, where it is first exported;
- `<!-- generated: bench -->`: the tables of every `bench/*.json`, rendered by `bench.table.markdown`;
- `<!-- generated: layers -->`: the layer order of tests/test_layers.py;
- `<!-- generated: presets -->`: the presets of `latentlab.PRESETS`;
- `<!-- generated: contention -->`: the busy-machine table of bench/contention-2026-12-07.json;
- `<!-- generated: models -->`: the model registry and the terms each kind declares.

A marker may be followed, after a blank line, by one line that begins with OFFLINE: what a reader of the Markdown
source (on GitHub, say) sees in place of the part; the built page replaces both.

`public_api()` is also what tests/test_docstrings.py checks.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The package faces whose `__all__` is the public API, in the order the reference shows them.
FACES = ("latentlab", "latentlab.data", "latentlab.models", "latentlab.training", "latentlab.analysis",
         "latentlab.figures", "latentlab.report", "latentlab.export", "latentlab.benchmark", "latentlab.runner",
         "latentlab.web", "latentlab.cli")
MARKER = "<!-- generated: {} -->"
OFFLINE = "*Generated from the code when the site is built"


def defining_path(face: str, name: str) -> str:
    """The dotted path where `face.name` is defined (what mkdocstrings must be given: a lazy face's names are
    invisible to static analysis)."""
    obj = getattr(importlib.import_module(face), name)
    module = getattr(obj, "__module__", None)
    if module and module.startswith("latentlab") and hasattr(obj, "__qualname__"):
        return f"{module}.{obj.__qualname__}"
    # A constant: the module of the face's package that assigns it at top level.
    package = importlib.import_module(face)
    folder = Path(package.__file__).parent if package.__file__.endswith("__init__.py") else None
    candidates = [Path(package.__file__)] + (sorted(folder.glob("*.py")) if folder else [])
    lazy = getattr(importlib.import_module("latentlab"), "_EXPORTS", {}) if face == "latentlab" else {}
    if name in lazy:
        candidates = [Path(importlib.import_module(lazy[name]).__file__)]
        candidates += sorted(candidates[0].parent.glob("*.py")) if candidates[0].name == "__init__.py" else []
    for path in candidates:
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                rel = path.relative_to(ROOT / "src").with_suffix("").parts
                return ".".join(rel[:-1] if rel[-1] == "__init__" else rel) + f".{name}"
    raise LookupError(f"{face}.{name}: no definition found")


def public_api() -> dict[str, dict[str, str]]:
    """face -> {public name -> defining dotted path}, over FACES' `__all__` (`__version__` left out)."""
    return {face: {name: defining_path(face, name) for name in importlib.import_module(face).__all__
                   if name != "__version__"} for face in FACES}


def api_reference() -> str:
    """The API page: per face, an mkdocstrings block for each name not already shown under an earlier face."""
    shown: dict[str, str] = {}
    out = []
    for face, names in public_api().items():
        out += [f"## `{face}`", ""]
        doc = (importlib.import_module(face).__doc__ or "").strip().split("\n\n")[0]
        out += [doc.replace("\n", " "), ""] if doc else []
        again = []
        for name, path in names.items():
            if path in shown:
                again.append(f"`{name}` ([{shown[path]}](#{path}))")
                continue
            shown[path] = f"{face}.{name}"
            out += [f"::: {path}", ""]
        if again:
            out += ["Also exported here: " + ", ".join(again) + ".", ""]
    return "\n".join(out)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Every command's help as argparse prints it, each parser built as for that command (so choices that need
    the heavy registries, like `plot`'s figures, are filled in)."""
    from latentlab.cli.parser import build_parser

    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal's width; a fixed one keeps the page stable
    top = build_parser()
    out = ["```text", top.format_help().rstrip(), "```", ""]
    for name in _subcommands(top):
        parser = _subcommands(build_parser(name))[name]
        out += [f"## `latentlab {name}`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for sub_name, sub in _subcommands(parser).items():
            out += [f"### `latentlab {name} {sub_name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def bench_reference() -> str:
    """Each bench/results*.json as the bench printed its tables: `bench/run.py`'s sections through `bench.table`,
    the pythae comparisons (`bench/family.py`, a list of "cases") through `bench.family`."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.family import markdown as family_markdown
        from bench.table import markdown
    finally:
        sys.path.remove(str(ROOT))
    out = []
    for path in sorted((ROOT / "bench").glob("results*.json")):
        results = json.loads(path.read_text())
        if "cases" in results:
            out += [f"## `bench/{path.name}`", "", "The VAE family against pythae.", "", family_markdown(results), ""]
            continue
        sections = ", ".join(k for k in results.get("section_s", {}))
        out += [f"## `bench/{path.name}`", "", f"Sections: {sections or 'all'}.", "", markdown(results), ""]
    return "\n".join(out)


def layers_table() -> str:
    """The layer order that tests/test_layers.py enforces, read from its `LAYERS`."""
    tree = ast.parse((ROOT / "tests" / "test_layers.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "LAYERS")
    layers = ast.literal_eval(node.value)
    rows = ["| layer | modules and packages |", "|---|---|"]
    rows += [f"| {i} | {', '.join(f'`{m}`' for m in sorted(layer))} |" for i, layer in enumerate(layers)]
    return "\n".join(rows)


def presets_table() -> str:
    """The presets as `latentlab.PRESETS` holds them."""
    from latentlab.presets import PRESETS

    rows = ["| preset | model | data | batch | quick / full epochs |", "|---|---|---|---|---|"]
    rows += [f"| `{p.name}` | {p.description} | {p.config.dataset} | {p.config.train.batch_size} | "
             f"{p.quick_epochs} / {p.full_epochs} |" for p in PRESETS.values()]
    return "\n".join(rows)


def _bench_json(name: str, section: str) -> tuple[dict[str, Any] | None, Any]:
    """bench/`name` read, and bench/`section`.py's `markdown`; (None, None) when the bench has not written it."""
    path = ROOT / "bench" / name
    if not path.is_file():
        return None, None
    sys.path.insert(0, str(ROOT))
    try:
        markdown = importlib.import_module(f"bench.{section}").markdown
    finally:
        sys.path.remove(str(ROOT))
    return json.loads(path.read_text()), markdown


def contention_table() -> str:
    """bench/contention-2026-12-07.json's contention section, as `make bench` prints it (issue #21)."""
    results, markdown = _bench_json("contention-2026-12-07.json", "contention")
    if results is None:
        return "*Not measured yet: `make bench ONLY=contention` writes it.*"
    machine = results.get("machine", {})
    head = (f"Measured by `make bench ONLY=contention` on {machine.get('cpu', 'this machine')}, "
            f"{machine.get('cores', '?')} cores, load average {results.get('load_average_start')} at the start:")
    return head + "\n\n" + markdown(results["contention"])


def family_table() -> str:
    """bench/results-family.json, the VAE family against pythae, as `bench/family.py` prints it (issue #24)."""
    results, markdown = _bench_json("results-family.json", "family")
    if results is None:
        return "*Not measured yet: `make bench ONLY=family` writes it.*"
    return "Measured by `python bench/family.py` (nats per image; seconds):\n\n" + markdown(results)


def models_table() -> str:
    """The model registry: each kind, its class and the per-image terms it declares (what figures and metrics
    it gets: "kl" means a posterior and a prior)."""
    from latentlab.config import ModelConfig
    from latentlab.models import MODELS, build_model

    rows = ["| `model.kind` | class | per-image terms (`TERMS`) |", "|---|---|---|"]
    for kind in MODELS:
        model = build_model(ModelConfig(kind=kind, hidden=(8,), latent_dim=2))
        rows.append(f"| `{kind}` | `{type(model).__name__}` | {', '.join(model.TERMS)} |")
    return "\n".join(rows)


GENERATORS = {"presets": presets_table, "cli": cli_reference, "api": api_reference, "bench": bench_reference,
              "layers": layers_table, "contention": contention_table, "models": models_table,
              "family": family_table}


def on_config(config: Any) -> Any:
    """Drop scripts the theme would load from the network: the offline plugin adds the iframe-worker shim from a
    CDN (so that search runs from file://). Without it every page works offline; search needs the site served
    (`make docs-serve`, or `python -m http.server -d site`)."""
    polyfills = config.extra.get("polyfills", [])
    config.extra["polyfills"] = [url for url in polyfills if "://" not in url]
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for key, make in GENERATORS.items():
        marker = MARKER.format(key)
        if marker in markdown:
            start = markdown.index(marker)
            end = start + len(marker)
            if markdown.startswith("\n\n" + OFFLINE, end):  # the note for Markdown readers goes with the marker
                end = markdown.find("\n", end + 2)
                end = len(markdown) if end < 0 else end
            markdown = markdown[:start] + make() + markdown[end:]
    return markdown
