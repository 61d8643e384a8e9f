"""The README is the front door: at most 200 lines, its Python snippet is valid Python that defines or imports every
name it uses, and every page it links to exists. The snippets of the docs' tutorials are run in
tests/test_tutorials.py; the README's trains on the full data set, so it is only checked here."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def undefined_names(code: str) -> set[str]:
    """Names `code` reads that it never binds (assignment, import, def, argument) and that are not built-ins."""
    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound


def test_the_checker_finds_a_missing_import():
    assert undefined_names("x = Path('a')\nimport os\nos.sep") == {"Path"}


def test_the_readme_is_short_and_has_the_python_snippet():
    assert len(README.read_text().splitlines()) <= 200
    assert len(SNIPPETS) >= 1 and "NoveltyDetector" in SNIPPETS[0]


@pytest.mark.parametrize("code", SNIPPETS, ids=lambda c: c.splitlines()[0][:40])
def test_every_readme_snippet_stands_alone(code):
    assert not undefined_names(code), f"README snippet uses names it does not define or import:\n{code}"


def test_the_introduction_does_not_limit_the_detector_to_grey_28x28():
    # The detector works at any size and in colour (docs/tutorials/own-images.md); the introduction must not say
    # otherwise.
    intro = README.read_text().split("\n## ", 1)[0]
    assert "is this image part of the data set?" in intro
    assert "so far" not in intro and "28x28 grey" not in intro


def test_every_local_link_of_the_readme_exists():
    links = [link for link in re.findall(r"\]\(([^)#]+)", README.read_text()) if "://" not in link]
    assert len(links) >= 10
    assert not [link for link in links if not (ROOT / link).exists()]


def test_the_readme_links_every_docs_page():
    pages = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md") if p.parent.name != "figures"}
    pages -= {"docs/index.md", "docs/changelog.md"}  # the site's home page, and CHANGELOG.md (linked) included
    assert not pages - set(re.findall(r"\]\((docs/[^)#]+)", README.read_text()))
