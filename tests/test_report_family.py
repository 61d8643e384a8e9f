"""The report's VAE-family section: `build_report(presets=["family"])` and `latentlab.report.family`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from latentlab.errors import ConfigError
from latentlab.report import build_report, experiments
from latentlab.report import family as fam

TINY = {"train.epochs": 1, "train.batch_size": 128}
# The section trains 13 models (one epoch each) and measures them: about 3 minutes on a busy 2-core machine.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def family_report(mnist_small, tmp_path_factory):
    """The family section on the first 2,048 / 500 images of mnist-sample, one epoch per member."""
    import torch

    folder = tmp_path_factory.mktemp("family")
    data = folder / "digits.npz"
    np.savez(data, x=mnist_small.x_train, y=mnist_small.y_train, x_test=mnist_small.x_test,
             y_test=mnist_small.y_test)
    patch = pytest.MonkeyPatch()
    patch.setattr(experiments, "FAMILY_DATA", str(data))
    patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        page = build_report(folder / "out", presets=["family"], overrides=TINY, iwae_k=4, progress=False)
    finally:
        torch.set_num_threads(threads)
        patch.undo()
    return folder, page


@slow
def test_family_section_measures_every_member(family_report):
    folder, page = family_report
    result = json.loads((folder / "out" / "family" / "family.json").read_text())
    rows = {r["label"]: r for r in result["rows"]}
    ran = set(rows) | {s["label"] for s in result["skipped"]}
    assert ran == {"vae-2d", *(m.label for m in fam.MEMBERS)}
    vae = rows["vae-16d"]
    assert vae["latent_dim"] == 16 and vae["epochs"] == 1
    # an importance-weighted bound is at least the ELBO, so its NLL at most the negative ELBO (K=4, Monte Carlo)
    assert 0 < vae["nll"] <= -vae["elbo"] + 2.0 and vae["kl"] > 0 and 0 <= vae["active_units"] <= 16
    for r in rows.values():
        assert r["fid_gmm"] is None or (math.isfinite(r["fid_gmm"]) and r["fid_gmm"] >= 0)
    if "wae" in rows:  # no likelihood bound: only its reconstruction, and samples from its prior
        assert rows["wae"]["nll"] is None and rows["wae"]["recon_at_code"] > 0 and rows["wae"]["fid_prior"] > 0
    if "vqvae" in rows:  # its codebook use, as metrics.json reports it
        used = rows["vqvae"]["codebook"]
        assert used["codebook_size"] == 512 and 0 < used["usage"] <= 1 and 1 <= used["perplexity"] <= 512
    if "cvae" in rows:
        agreement = rows["cvae"]["class_agreement"]
        assert len(agreement["per_class"]) == 10 and 0 <= agreement["min"] <= agreement["mean"] <= 1
    assert result["classifier"]["test_accuracy"] >= 0.8  # 3 epochs on 2,048 digits
    assert result["nll"] == {"k": 4, "images": 500} and result["n_samples"] == 10_000


@slow
def test_beta_sweep_trades_rate_for_distortion(family_report):
    folder, _ = family_report
    sweep = json.loads((folder / "out" / "family" / "family.json").read_text())["beta_sweep"]
    assert sweep["beta"] == list(fam.BETAS)
    # from beta 0.25 to 8 the KL falls and the reconstruction worsens, even after one epoch
    assert sweep["rate"][0] > sweep["rate"][-1] and sweep["distortion"][0] < sweep["distortion"][-1]


@slow
def test_family_page_and_figures(family_report):
    folder, page = family_report
    html = page.read_text()
    assert "The VAE family, side by side" in html and "not comparable with published Inception FIDs" in html
    assert (folder / "out" / "family" / "family-beta-sweep.png").is_file()
    assert html.count("<img") >= 1 + len(fam.MEMBERS) - 2  # the sweep, then a figure per member that ran
    summary = json.loads((folder / "out" / "metrics.json").read_text())
    assert summary["runs"] == {} and summary["family"]["rows"][0]["label"] == "vae-2d"
    # the classifier went to the user cache dir, keyed by the data's digest
    assert list((folder / "cache" / "latentlab" / "classifiers").glob("*/classifier.json"))


def test_family_is_not_in_the_default_report():
    assert all(s.preset != fam.FAMILY for s in experiments.sections_for("full"))
    assert experiments.sections_for("quick", [fam.FAMILY]) == []  # accepted alone, no seed section


class _Reached(Exception):
    """Raised by the stand-in family section: the test needs only the arguments it was called with."""


@pytest.mark.parametrize("flags", [["--dataset", "fashion-mnist-sample"], ["--set", "dataset=fashion-mnist-sample"]])
def test_family_trains_on_the_dataset_named(tmp_path, monkeypatch, flags):
    from latentlab.cli import main

    seen = {}

    def stand_in(data, fallback, out, profile, iwae_k, progress=True, overrides=None, parts=fam.PARTS, **_):
        seen.update(name=data.name, n=len(data.x_train), overrides=overrides, iwae_k=iwae_k, parts=parts)
        raise _Reached

    monkeypatch.setattr(fam, "family_section", stand_in)
    with pytest.raises(_Reached):
        main(["report", "--out", str(tmp_path), "--presets", "family:wae,iwae-50", "--epochs", "2", "--iwae-k",
              "1000", "--quiet", *flags])
    # the members' configs take the data set's own name, so "dataset" is not passed on as an override
    assert seen == {"name": "fashion-mnist-sample", "n": 10_000, "overrides": {"train.epochs": 2}, "iwae_k": 1000,
                    "parts": ("wae", "iwae-50")}


def test_family_parts_of_the_presets():
    assert fam.family_parts(None) == (None, None)
    assert fam.family_parts(["mnist-vae"]) == (["mnist-vae"], None)
    assert fam.family_parts(["family", "mnist-vae"]) == (["mnist-vae", "family"], fam.PARTS)
    assert fam.family_parts(["family:vamp,beta-sweep"]) == (["family"], ("vamp", "beta-sweep"))
    assert fam.PARTS == ("beta-sweep", "vae-16d", "iwae-5", "iwae-50", "vamp", "vqvae", "wae", "cvae")
    with pytest.raises(ConfigError, match="vae-99 is not a part of the family; choose from beta-sweep, vae-16d"):
        fam.family_parts(["family:vae-99"])
