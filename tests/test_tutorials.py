"""Every code block of docs/tutorials/*.md and docs/concepts/*.md runs, in order, as a reader would paste them.

Each page runs in its own empty folder: its ```python blocks share one namespace, its ```bash blocks run in a
shell whose `latentlab` is this interpreter's. A block the reader should not run here (a GPU cluster, a long
training) is preceded by `<!-- not run: REASON -->`, and the reason is required. The pages use the bundled
samples and one epoch; the pages take about three minutes together on two shared cores (marked slow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(?:<!-- not run: (?P<why>[^>]*?) -->\s*\n)?```(?P<lang>python|bash)\n(?P<code>.*?)```", re.S)


def blocks(page: Path) -> list[tuple[str, str, str | None]]:
    """(language, code, reason not to run or None) for each ```python or ```bash block of `page`, in order."""
    return [(m["lang"], m["code"], m["why"]) for m in BLOCK.finditer(page.read_text())]


def test_the_block_finder_sees_languages_and_reasons(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("a\n```python\nx = 1\n```\n<!-- not run: needs a GPU -->\n```bash\nnvidia-smi\n```\n"
                    "```text\nno\n```\n")
    assert blocks(page) == [("python", "x = 1\n", None), ("bash", "nvidia-smi\n", "needs a GPU")]


PAGES = sorted([*(DOCS / "tutorials").glob("*.md"), *(DOCS / "concepts").glob("*.md")])


def test_there_are_tutorials_with_code():
    tutorials = [p for p in PAGES if p.parent.name == "tutorials"]
    assert len(tutorials) >= 5 and all(any(lang == "python" for lang, _, _ in blocks(p)) for p in tutorials)


@pytest.mark.slow  # about three minutes on two shared cores
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_tutorial_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    namespace: dict = {"__name__": "__main__"}
    for i, (lang, code, why) in enumerate(blocks(page)):
        if why is not None:
            assert why.strip(), f"{page.name}: block {i} is skipped without a reason"
            continue
        where = f"{page.name}, block {i} ({lang}):\n{code}"
        if lang == "python":
            exec(compile(code, f"{page.name}[{i}]", "exec"), namespace)  # noqa: S102 - the page's own code
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{where}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
