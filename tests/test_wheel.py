"""The package as a user gets it: `python -m build` makes an sdist and a wheel; the wheel holds the bundled samples
and the web page's static files and nothing of the tests; installed into a fresh virtual environment that cannot
see this repository, it trains, detects, reports and imports every public module.

torch comes from the same pinned 2.13.0 as the Makefile's (pip's configured local wheels), the other dependencies
from pip's cache: about 2-4 minutes on two cores, most of it installing. Marked slow; CI runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = ("latentlab", "latentlab.data", "latentlab.models", "latentlab.training", "latentlab.analysis",
                  "latentlab.figures", "latentlab.report", "latentlab.export", "latentlab.benchmark",
                  "latentlab.runner", "latentlab.web", "latentlab.cli", "latentlab.images", "latentlab.config",
                  "latentlab.runs", "latentlab.presets", "latentlab.errors")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True,
                   capture_output=True, text=True)
    return out


def test_build_makes_an_sdist_and_a_wheel_with_the_package_data(dist):
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    for needed in ("latentlab/data/samples/mnist-sample.npz", "latentlab/data/samples/fashion-mnist-sample.npz",
                   "latentlab/web/static/index.html", "latentlab/web/static/js/main.js", "latentlab/__main__.py"):
        assert needed in names, f"the wheel lacks {needed}"
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n or "conftest" in n]
    assert not [n for n in names if n.startswith(("bench/", "scripts/", "docs/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheels[0]).read(metadata).decode()
    for field in ("License", "Requires-Python: >=3.11", "Classifier: License :: OSI Approved :: MIT License",
                  "Provides-Extra: web", "Provides-Extra: docs"):
        assert field in text, f"METADATA lacks {field}"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "latentlab = latentlab.cli:main" in zipfile.ZipFile(wheels[0]).read(entry).decode()


def _digit_png(path: Path) -> None:
    """A dark-on-light digit drawn with Pillow (no latentlab: the venv under test has its own)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(32, 10), (32, 54)], fill=0, width=7)
    image.save(path)


@pytest.mark.slow
def test_the_wheel_works_in_a_fresh_venv_away_from_the_repository(dist, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, bin_dir = venv / "bin" / "python", venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0"], check=True, env=env)
    wheel = next(dist.glob("*.whl"))
    subprocess.run([*pip, f"{wheel}[web]"], check=True, env=env)  # the web extra: latentlab.web imports fastapi

    work = tmp_path / "empty"
    work.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    where = run(str(py), "-c", "import latentlab; print(latentlab.__file__)").strip()
    assert Path(where).is_relative_to(venv), f"latentlab imported from {where}, not from the fresh venv"
    assert not Path(where).is_relative_to(ROOT)
    imports = "; ".join(f"import {m}" for m in PUBLIC_MODULES)
    run(str(py), "-c", imports + "; import latentlab; [getattr(latentlab, n) for n in latentlab.__all__]")
    assert run("latentlab", "--version").strip().startswith("latentlab ")
    run("latentlab", "train", "mnist-vae", "--dataset", "mnist-sample", "--epochs", "1", "--quiet")
    assert (work / "runs" / "mnist-vae" / "model.safetensors").is_file()
    _digit_png(work / "one.png")
    out = run("latentlab", "detect", "runs/mnist-vae", "one.png", "--json", "--quiet")
    assert '"verdict"' in out
    run("latentlab", "report", "--presets", "mnist-simple", "--epochs", "1", "--quiet", "--jobs", "1")
    assert (work / "report" / "index.html").is_file()
