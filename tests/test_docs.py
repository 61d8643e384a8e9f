"""The documentation site builds with `mkdocs build --strict` (a warning, a broken link, an anchor that is not there
or a reference mkdocstrings cannot resolve fails it), offline: no page loads a script, a style sheet or a font
from the network. The generated pages hold what they are generated from."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# src=, href= of <script>, <link> and url() in CSS: what a browser fetches by itself when a page opens
FETCHED = re.compile(r"<script[^>]*\bsrc=[\"'](https?:)?//|<link[^>]*\bhref=[\"'](https?:)?//|"
                     r"@import\s+url\([\"']?(https?:)?//|url\([\"']?(https?:)?//")


def external_fetches(text: str) -> list[str]:
    """The places in an HTML or CSS text that make a browser fetch from another host."""
    return [m.group(0) for m in FETCHED.finditer(text)]


def test_the_fetch_finder_sees_cdn_scripts_and_fonts():
    assert external_fetches('<script src="https://cdn.example/x.js"></script>')
    assert external_fetches("@import url(https://fonts.googleapis.com/css?family=Roboto)")
    assert external_fetches('<link rel="stylesheet" href="//cdn.example/a.css">')
    assert not external_fetches('<script src="assets/javascripts/bundle.js"></script><a href="https://x.org">x</a>')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    assert "WARNING" not in done.stderr, done.stderr
    return out


@pytest.mark.slow
def test_the_site_builds_strictly_and_fetches_nothing_from_the_network(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 15
    fetched = {str(p.relative_to(site)): external_fetches(p.read_text(errors="replace"))
               for p in [*pages, *site.rglob("*.css"), *site.rglob("*.js")]}
    assert not {k: v for k, v in fetched.items() if v}


@pytest.mark.slow
def test_the_generated_pages_hold_every_command_and_public_name(site):
    from latentlab.cli.parser import build_parser

    cli = (site / "reference" / "cli.html").read_text()
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert all(f"latentlab {name}" in cli for name in commands)
    assert "--image-size" in cli and "one-class" in cli
    api = (site / "reference" / "api.html").read_text()
    import latentlab

    missing = [name for name in [*latentlab.__all__, "run_tasks", "to_onnx", "build_report"]
               if name != "__version__" and not re.search(rf'id="latentlab\.[\w.]*\.{name}"', api)]
    assert not missing
    bench = (site / "benchmarks.html").read_text()
    assert "results-ttq.json" in bench and "img/s" in bench


def test_each_generated_part_tells_markdown_readers_how_to_see_it_and_the_site_drops_that(site):
    # Fault: read on GitHub, the CLI reference was 11 lines ending in a marker, and the README said pages read there.
    sys.path.insert(0, str(ROOT / "scripts"))
    from docs_hooks import MARKER, OFFLINE

    for page in (ROOT / "docs").rglob("*.md"):
        text = page.read_text()
        for key in re.findall(r"<!-- generated: (\w+) -->", text):
            after = text[text.index(MARKER.format(key)) + len(MARKER.format(key)):]
            assert after.startswith("\n\n" + OFFLINE), (page, key)
    for html in site.rglob("*.html"):
        assert OFFLINE.strip("*") not in html.read_text(), html
    assert "latentlab COMMAND --help" in (ROOT / "docs" / "reference" / "cli.md").read_text()
