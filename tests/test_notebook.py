"""examples/seed_report.ipynb: stored without outputs, written against the public API, and run top to bottom by
nbclient in a kernel of this interpreter, its figures shown inline and its membership answers above a floor."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "seed_report.ipynb"


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_notebook_is_stored_without_outputs_and_valid() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, f"strip the outputs of: {cell.source[:60]!r}"
    assert nb.metadata.kernelspec.name == "python3"


def test_the_notebook_tells_the_story_through_the_public_api() -> None:
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    for name in ("load_dataset", "preset_config", "train", "load_run", "NoveltyDetector"):
        assert f"latentlab.{name}(" in source, name
    for preset in ("mnist-simple", "mnist-deep", "mnist-denoise", "mnist-vae", "fashion-vae"):
        assert f'"{preset}"' in source, preset
    assert '"mnist-sample"' in source and '"fashion-mnist-sample"' in source
    assert not re.search(r"latentlab\.(training|analysis|models|runs)\b", source), "use the public API"


def test_the_kernel_is_this_interpreter() -> None:
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] == sys.executable


@pytest.mark.slow
def test_the_notebook_runs_and_shows_every_figure_inline(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # No kernel directories: jupyter_client falls back to ipykernel's own "python3" spec, which is sys.executable,
    # so the notebook runs with the latentlab under test whatever kernels the machine has.
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = code_cells(nb)
    assert all(cell.execution_count for cell in cells)
    figures = [cell for cell in cells if "_figure(" in cell.source.splitlines()[-1]]
    assert len(figures) >= 9
    for cell in figures:
        assert any("image/png" in out.get("data", {}) for out in cell.outputs), f"no figure shown: {cell.source!r}"
    latent = [cell for cell in cells if "latent-space" in cell.metadata.get("tags", [])]
    assert len(latent) == 1 and "latent_figure(vae, mnist)" in latent[0].source
    for preset in ("mnist-simple", "mnist-deep", "mnist-denoise", "mnist-vae", "fashion-vae"):
        assert (tmp_path / "runs" / preset / "model.safetensors").is_file()
    text = "".join(out.get("text", "") for out in cells[-1].outputs)
    answers = re.findall(r"accepts ([\d.]+)% of .*?, rejects ([\d.]+)% of", text)
    assert len(answers) == 2, text
    for accepted, rejected in answers:
        # The threshold rejects about 5% of in-distribution images; the other data set should be mostly rejected.
        assert float(accepted) >= 85.0 and float(rejected) >= 90.0, text
