"""The report's HTML: one page, no network needed, figures embedded as data URIs."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

FIGURE_CAPTIONS = {
    "recon": "The first 10 test images (top) and their reconstructions (bottom).",
    "denoise": "Original, noisy, encoded (the code as a small image) and decoded, for the first 10 test images.",
    "curves": "Training and validation loss per epoch.",
    "latent": "The test set's latent codes, coloured by class.",
    "manifold": "Images decoded from a regular grid over the latent plane.",
    "samples": "Images decoded from random draws of the prior N(0, I).",
    "point": "The image decoded at a chosen latent position, marked on the cluster plot.",
    "explain": "Why the membership check judged as it did: the most and least typical test images and the most "
               "novel image of each out-of-distribution set, each with its reconstruction, the anomaly map over it "
               "(where it departs from its nearest training images) and its five nearest training images.",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d232a;line-height:1.5}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #e3e7ec;padding-bottom:.2em;margin-top:2.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #d5dbe1;padding:.3em .6em;
text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7ec}
figcaption{color:#56606b;font-size:.9em}
.note{background:#fff7e0;border-left:4px solid #e6b400;padding:.5em .8em}.muted{color:#56606b;font-size:.9em}
.good{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(title: str, pairs: list[tuple[str, Any]]) -> str:
    pairs = [(k, v) for k, v in pairs if v is not None]
    return f"<h4>{html.escape(title)}</h4>" + _table(["measure", "value"], [[k, v] for k, v in pairs]) if pairs else ""


def metric_tables(m: dict[str, Any]) -> str:
    out = []
    rec = m.get("reconstruction") or {}
    out.append(_pairs("Reconstruction (test split, per pixel)", [
        ("binary cross-entropy", rec.get("bce_per_pixel")), ("mean squared error", rec.get("mse_per_pixel")),
        ("PSNR (dB)", rec.get("psnr_db")), ("SSIM", rec.get("ssim"))]))
    vae = m.get("vae") or {}
    out.append(_pairs("VAE (test split, nats per image)", [
        ("ELBO", vae.get("elbo")), ("reconstruction term", vae.get("recon")), ("KL term", vae.get("kl")),
        (f"IWAE log-likelihood (k={vae.get('iwae_k')})", vae.get("iwae_log_likelihood")),
        ("bits per dimension", vae.get("iwae_bits_per_dim")), *_posterior_rows(vae)]))
    out += [f'<div class="note">{html.escape(w)}</div>' for w in vae.get("warnings") or []]
    den = m.get("denoising") or {}
    if den.get("levels"):
        rows = [[float(f), lv.get("noisy_psnr_db"), lv.get("denoised_psnr_db"), lv.get("noisy_ssim"),
                 lv.get("denoised_ssim")] for f, lv in den["levels"].items()]
        out.append("<h4>Denoising (Gaussian noise, test split)</h4>"
                   + _table(["noise factor", "noisy PSNR", "denoised PSNR", "noisy SSIM", "denoised SSIM"], rows))
    lat = m.get("latent") or {}
    out.append(_pairs("Latent space", [(f"k-NN accuracy (k={lat.get('knn_k')})", lat.get("knn_accuracy")),
                                       ("silhouette by class", lat.get("silhouette"))]))
    out.append(membership_table(m.get("membership")))
    if m.get("membership_skipped"):
        out.append(f'<p class="muted">Membership check skipped: {html.escape(m["membership_skipped"])}.</p>')
    return "".join(out)


def _posterior_rows(vae: dict[str, Any]) -> list[tuple[str, Any]]:
    """The posterior diagnostics as rows of the VAE table (none for a metrics.json written before them)."""
    if vae.get("active_units") is None:
        return []

    def per_unit(values: list[float | None]) -> str:
        return ", ".join("–" if v is None else f"{v:.3g}" for v in values)

    return [("beta (weight of the KL term)", vae.get("beta")),
            ("active latent units (posterior-mean variance > 0.01)", f"{vae['active_units']} of {vae['latent_dim']}"),
            ("KL per latent unit", per_unit(vae.get("kl_per_dim") or [])),
            ("variance of the posterior mean per latent unit (not nats)",
             per_unit(vae.get("posterior_mean_variance") or []))]


def membership_table(mem: dict[str, Any] | None) -> str:
    if not mem or not mem.get("rows"):
        return ""
    rows = mem["rows"]
    by_set: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_set.setdefault(r["ood"], {})[r["score"]] = r.get("auroc")
    scores = list(dict.fromkeys(r["score"] for r in rows))
    body = []
    for ood, vals in by_set.items():
        cells = []
        for s in scores:
            v = vals.get(s)
            if v is None:
                cells.append("–")
            else:
                cls = "good" if v >= 0.95 else ("bad" if v < 0.7 else "")
                cells.append(f'<span class="{cls}">{v:.3f}</span>')
        body.append(f"<tr><td>{html.escape(ood)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(s)}</th>" for s in ["out-of-distribution set", *scores])
    other = mem.get("other_source")
    note = f'<p class="muted">Other dataset: {html.escape(str(other))}.</p>' if other else ""
    return ("<h4>Is this image part of the data set? AUROC, test split against each set</h4>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
            '<p class="muted">AUROC 1.0 separates perfectly, 0.5 is chance. "combined" is the default detector '
            "(two pixel views, nearest neighbours and local hyperplanes, standardised on the training images, with "
            "the model as a veto); the other columns "
            "are single scores.</p>")


def failed_table(failed: list[dict[str, Any]]) -> str:
    """The experiments that did not finish, with their error and the state their run directory was left in."""
    if not failed:
        return ""
    rows = [[f'{f["section"].number} {f["preset"]}', f["error"], f["status"] or "nothing saved"] for f in failed]
    return ('<h2 id="failed">Experiments that failed</h2><div class="note">These experiments stopped with an error '
            "and are missing from the sections below. Running the same command again reuses the finished runs, "
            "resumes a run left <i>running</i> or <i>interrupted</i> from its last epoch, and retrains the rest."
            "</div>" + _table(["experiment", "error", "run directory left as"], rows))


def render_page(parts: list[dict[str, Any]], env: dict[str, Any], embed: Callable[[Path], str],
                failed: list[dict[str, Any]] | None = None, benchmark: dict[str, Any] | None = None,
                family: dict[str, Any] | None = None, family_section: str = "") -> str:
    """The page; `family` is the family section's result (for its data line) and `family_section` its HTML."""
    sections = [_section(p, embed) for p in parts] + ([benchmark_section(benchmark, embed)] if benchmark else [])
    if family_section:
        sections.append(family_section)
    summary_rows = []
    for p in parts:
        m, run = p["metrics"], p["run"]
        rec, vae = m.get("reconstruction") or {}, m.get("vae") or {}
        mem = m.get("membership") or {}
        combined = {r["ood"]: r["auroc"] for r in mem.get("rows", []) if r["score"] == "combined"}
        other = combined.get(mem.get("other_dataset") or "")
        summary_rows.append([f'{p["section"].number} {run.name}', p["data"].name, len(run.history),
                             rec.get("bce_per_pixel"), rec.get("mse_per_pixel"), vae.get("elbo"),
                             (m.get("latent") or {}).get("knn_accuracy"), other,
                             min(combined.values()) if combined else None])
    summary = _table(["experiment", "data", "epochs", "test BCE/pixel", "test MSE/pixel", "ELBO (nats)",
                      "5-NN accuracy", "AUROC vs the other dataset",
                      "worst AUROC, any set"], summary_rows)
    sources = {p["data"].name: (p["data"].source, p["fallback"]) for p in parts}
    if benchmark:
        data = benchmark["result"]["dataset"]
        sources.setdefault(data["name"], (data["source"], benchmark["fallback"]))
    if family:
        sources.setdefault(family["dataset"], (family["source"], family["fallback"]))
    data_lines = "".join(
        f"<li><b>{html.escape(n)}</b>: {html.escape(src)}"
        + (f'<div class="note">{html.escape(fb)}</div>' if fb else "") + "</li>" for n, (src, fb) in sources.items())
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>latentlab report: unsupervised autoencoders</title><style>{CSS}</style></head><body>
<h1>Unsupervised autoencoders on {html.escape(_data_names(parts))}</h1>
<p class="muted">Reproduced by <code>{html.escape(env["command"])}</code> ({html.escape(env["profile"])} profile) on
{html.escape(env["created"])} in {env["total_s"]:.0f} s (runs reused from earlier take no time; their training took
{sum(p["run"].meta.get("train_time_s", 0.0) for p in parts):.0f} s in all). {html.escape(versions)}.</p>
<h2>Data</h2><ul>{data_lines}</ul>
{failed_table(failed or [])}<h2>Summary</h2>{summary}
{"".join(sections)}
<h2>How this was made</h2>
<p>Every run lives in <code>runs/&lt;preset&gt;/</code> beside this page (config, safetensors weights, history,
metrics.json); running the same command again reuses finished runs. Seeds, devices and timings are listed per
section. <code>latentlab serve</code> explores these models live.</p>
</body></html>
"""


_DISPLAY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def _data_names(parts: list[dict[str, Any]]) -> str:
    """"MNIST and Fashion-MNIST", "MNIST, Fashion-MNIST and photo-tiles": the data sets of the page, samples named
    as the set they are drawn from."""
    names = list(dict.fromkeys(_DISPLAY.get(p["data"].name.removesuffix("-sample"), p["data"].name) for p in parts))
    names = names or ["MNIST", "Fashion-MNIST"]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _css_width(path: Path) -> int:
    # Figures are saved at 2x: show them at half their pixel width so text keeps one size across figures.
    with Image.open(path) as im:
        return im.width // 2


def _section(p: dict[str, Any], embed: Callable[[Path], str]) -> str:
    s, run, data = p["section"], p["run"], p["data"]
    cfg, meta = run.config, run.meta
    figs = "".join(
        f'<figure><img alt="{html.escape(kind)}" width="{_css_width(path)}" src="{embed(path)}">'
        f"<figcaption>{html.escape(FIGURE_CAPTIONS.get(kind, kind))}</figcaption></figure>"
        for kind, path in p["figures"])
    m = cfg.model
    arch = f"{m.kind} autoencoder" if m.kind != "vae" else f"VAE ({m.encoder} encoder)"
    hidden = "-".join(map(str, m.hidden)) or "none"
    noise = cfg.train.noise
    how = {"reused": "reused a finished run", "resumed": "resumed an interrupted run", "trained": "trained now"}
    facts = (f"{arch}, hidden {hidden}, latent {m.latent_dim}"
             + (f", {noise.kind} noise {noise.factor:g}" if noise.kind != "none" else "")
             + f"; {len(run.history)} epochs, batch {cfg.train.batch_size}, {cfg.train.optimizer} lr "
             f"{cfg.train.lr:g}, seed {cfg.train.seed}; {meta.get('device', '?')}, "
             f"{meta.get('train_time_s', 0):.1f} s of training ({how[p['how']]}); data: {data.source}.")
    return (f'<h2 id="s{html.escape(s.number)}">{html.escape(s.number)} {html.escape(s.title)}</h2>'
            f"<p>{html.escape(s.intro)}</p><p class=\"muted\">{html.escape(facts)}</p>"
            f"{figs}{metric_tables(p['metrics'])}")


def benchmark_section(bench: dict[str, Any], embed: Callable[[Path], str]) -> str:
    """The one-class benchmark: AUROC per class beside the raw-pixel k-NN and published rows, the chart, notes."""
    from latentlab.benchmark.tables import footnotes, table

    r = bench["result"]
    data, s = r["dataset"], r["settings"]
    how = "reused from an earlier report (delete benchmark/ beside this page to measure again)" if (
        bench["how"] == "reused") else "measured now"
    facts = (f"{data['name']}, classes {s['classes']}; preset {s['preset']} ({s['model']}), {s['steps']} optimizer "
             f"steps per class ({s['epochs_rule']}), seeds {s['seeds']}; {r['wall_s']:.0f} s on "
             f"{r['machine']['device']}, {how}.")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in footnotes(r))
    return (f'<h2 id="s3">3 One-class novelty detection (the field\'s benchmark)</h2>'
            "<p>Train on the images of one class only, then tell that class from all the others in the test set. "
            "The default (the score chosen for the data set on a validation made of its training split alone), "
            "the detector's default and each single score are measured beside a raw-pixel nearest-neighbour "
            "distance computed on the same images, and beside published results, quoted, not re-run.</p>"
            f'<p class="muted">{html.escape(facts)}</p>'
            f'<figure><img alt="one-class AUROC per class" width="{_css_width(bench["figure"])}" '
            f'src="{embed(bench["figure"])}"><figcaption>AUROC (%) per normal class; the mean of the classes run '
            "last.</figcaption></figure>"
            f"<h4>AUROC (%)</h4>{_table(*table(r, 'auroc'))}<h4>AUPR (%), the normal class positive</h4>"
            f"{_table(*table(r, 'aupr'))}<ul class=\"muted\">{notes}</ul>")
