"""The VAE family's section of the report page: the table of likelihoods and sample quality, then the figures."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentlab.report.html import _css_width, _table

CAPTIONS = {
    "beta-sweep": "Rate (KL) against distortion (reconstruction) over beta, each 2-D VAE's test codes beside it: a "
                  "larger beta buys a smaller KL with a worse reconstruction.",
    "class-planes": "The conditional VAE's latent grid decoded once per class: the same position, the same style.",
}


def family_html(fam: dict[str, Any], embed: Callable[[Path], str]) -> str:
    """HTML of `report.family.family_section`'s result."""
    nll = fam["nll"]
    clf = fam["classifier"]
    rows = [[r["label"], r["kind"], r["latent_dim"], r["epochs"], r["nll"], r["elbo"], r["kl"], r["recon_at_code"],
             _units(r), r.get("fid_prior"), r.get("fid_gmm"), _agreement(r)] for r in fam["rows"]]
    table = _table(["model", "kind", "latent", "epochs", "test NLL", "ELBO", "KL", "recon at code",
                    "active units", "classifier-FID, prior", "classifier-FID, GMM", "CVAE: class kept"], rows)
    skipped = "".join(f"<li>{html.escape(s['label'])}: {html.escape(s['why'])}</li>" for s in fam["skipped"])
    figs = "".join(
        f'<figure><img alt="{html.escape(kind)}" width="{_css_width(Path(path))}" src="{embed(Path(path))}">'
        f"<figcaption>{html.escape(CAPTIONS.get(kind, _caption(kind)))}</figcaption></figure>"
        for kind, path in fam["figures"])
    sweep = fam["beta_sweep"]
    sweep_rows = [[f"{b:g}", r, d, r + d] for b, r, d in zip(sweep["beta"], sweep["rate"], sweep["distortion"],
                                                             strict=True)]
    return (
        '<h2 id="family">5 The VAE family, side by side</h2>'
        "<p>Each model trained on the same images with the same networks (784-512-z), batch size and learning rate. "
        f"All numbers in nats per test image. Test NLL: importance sampling with K={nll['k']:,} samples on the first "
        f"{nll['images']:,} test images (the IWAE bound at K, an upper bound on the true NLL); ELBO and KL: one "
        "posterior sample on the same images; recon at code: -log p(x|z) at the encoder's code (the only term "
        "of models without a likelihood bound). A unit is active when its posterior mean varies (Burda et al.).</p>"
        f'<p class="muted">{html.escape(fam["dataset"])}: {html.escape(fam["source"])}. Classifier-FID: Frechet '
        f"distance between {fam['n_samples']:,} samples and the test split in the penultimate features of a small "
        f"CNN trained here on the training split (test accuracy {clf['test_accuracy']:.2%}, {clf['how']}); it ranks "
        "samplers and models on this data set and is <b>not comparable with published Inception FIDs</b>. prior: "
        "codes drawn from the model's prior; GMM: from a 10-component Gaussian mixture fitted to the training "
        f"codes. {fam['wall_s']:.0f} s.</p>"
        + (f'<div class="note">{html.escape(fam["fallback"])}</div>' if fam.get("fallback") else "")
        + table + (f'<p class="muted">Not run:</p><ul class="muted">{skipped}</ul>' if skipped else "")
        + "<h4>beta sweep (2-D VAE)</h4>"
        + _table(["beta", "rate: KL", "distortion: recon", "negative ELBO at beta=1"], sweep_rows) + figs)


def _units(r: dict[str, Any]) -> str | None:
    return None if r["active_units"] is None else f"{r['active_units']} of {r['latent_dim']}"


def _agreement(r: dict[str, Any]) -> str | None:
    a = r.get("class_agreement")
    return None if not a else f"{a['mean']:.1%} (lowest {a['min']:.1%})"


def _caption(kind: str) -> str:
    if kind.startswith("samples-"):
        return f"{kind.removeprefix('samples-')}: samples from the prior, then from the Gaussian mixture."
    return kind
