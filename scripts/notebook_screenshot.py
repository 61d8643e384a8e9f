"""The README's picture of examples/seed_report.ipynb: the PNG its latent-space cell shows once executed.

    python scripts/notebook_screenshot.py [--executed NOTEBOOK] [--out docs/screenshots/notebook-latent.png]

Runs the notebook with nbclient in a kernel of this interpreter, in a temporary folder (its runs/ go there), and
writes the image/png output of the cell tagged "latent-space". With --executed, takes that output from a notebook
that was already run (saved from Jupyter, say) instead.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "seed_report.ipynb"
TAG = "latent-space"


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    # No kernel directories: jupyter_client falls back to ipykernel's own "python3" spec, i.e. sys.executable.
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def tagged_png(nb: nbformat.NotebookNode, tag: str = TAG) -> bytes:
    for cell in nb.cells:
        if tag in cell.metadata.get("tags", []):
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    return base64.b64decode(output["data"]["image/png"])
            sys.exit(f"the cell tagged {tag!r} has no PNG output: was the notebook executed?")
    sys.exit(f"no cell is tagged {tag!r} in the notebook")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, help="an executed copy of the notebook to take the picture from")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "notebook-latent.png")
    args = parser.parse_args()
    if args.executed:
        nb = nbformat.read(args.executed, as_version=4)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            nb = execute(NOTEBOOK, Path(tmp))
    args.out.write_bytes(tagged_png(nb))
    print(args.out)


if __name__ == "__main__":
    main()
