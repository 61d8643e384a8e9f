"""Plain-text tables for the terminal: the generic aligned table, `latentlab datasets`, a metrics summary and
warning lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_COLUMNS = {"name": "NAME", "resolves_from": "RESOLVES FROM", "train": "TRAIN", "test": "TEST",
            "classes": "CLASSES", "checksums": "CHECKSUMS"}


def format_datasets(rows: list[dict]) -> str:
    """Rows of ``dataset_table`` as an aligned plain-text table."""
    def cell(value: object) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    table = [list(_COLUMNS.values())] + [[cell(row.get(key)) for key in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table)


def format_summary(metrics: dict[str, Any]) -> str:
    """A few human-readable lines of `metrics` for the terminal (the full record is metrics.json)."""
    def f(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    m = metrics
    lines = [f"{m['run']} on {m['dataset']} ({m['data_source']}): {m['n_train']:,} train / {m['n_test']:,} test"]
    r = m["reconstruction"]
    lines.append(f"reconstruction  BCE/pixel {f(r['bce_per_pixel'], '.4f')}  MSE/pixel {f(r['mse_per_pixel'], '.4f')}"
                 f"  PSNR {f(r['psnr_db'], '.2f')} dB  SSIM {f(r['ssim'], '.3f')}")
    if m.get("vae"):
        v = m["vae"]
        lines.append(f"VAE             ELBO {f(v['elbo'], '.2f')} nats (recon {f(v['recon'], '.2f')}, KL "
                     f"{f(v['kl'], '.2f')})  IWAE k={v['iwae_k']}: log p(x) {f(v['iwae_log_likelihood'], '.2f')} "
                     f"nats ({f(v['iwae_bits_per_dim'], '.3f')} bits/dim)")
        if v.get("active_units") is not None:  # metrics.json files written before the diagnostics lack it
            kl = v.get("kl_per_dim") or []
            per_dim = f", KL per unit {', '.join(f(k, '.2g') for k in kl)} nats" if len(kl) <= 8 else ""
            lines.append(f"posterior       {v['active_units']} of {v['latent_dim']} latent units active "
                         f"(posterior-mean variance > 0.01){per_dim}, beta {f(v.get('beta'), 'g')}")
        lines += [f"  warning: {w}" for w in v.get("warnings") or []]
    like = m.get("likelihood") or {}
    if like.get("nll") is not None:
        lines.append(f"test NLL        {f(like['nll'], '.2f')} +- {f(like['nll_sem'], '.2f')} nats per image (K="
                     f"{like['k']:,} importance samples, {like['subset']}); ELBO {f(like['elbo'], '.2f')}, KL "
                     f"{f(like['kl'], '.2f')}, {like['active_units']} of {like['latent_dim']} units active")
    elif like.get("no_bound"):
        lines.append(f"likelihood      none: {like['no_bound']}")
    if m.get("codebook"):
        c = m["codebook"]
        lines.append(f"codebook        {f(c['usage'], '.1%')} of {c['codebook_size']} entries used, perplexity "
                     f"{f(c['perplexity'], '.1f')}")
    if m.get("denoising"):
        parts = [f"{level}: {f(d['noisy_psnr_db'], '.1f')} -> {f(d['denoised_psnr_db'], '.1f')} dB"
                 for level, d in m["denoising"]["levels"].items()]
        lines.append(f"denoising       gaussian noise, PSNR noisy -> denoised  {'  '.join(parts)}")
    lat = m["latent"]
    lines.append(f"latent          {lat['knn_k']}-NN accuracy {f(lat['knn_accuracy'], '.3f')}  silhouette "
                 f"{f(lat['silhouette'], '.3f')} (n={lat['silhouette_n']:,})")
    if m.get("membership_skipped"):
        lines.append(f"membership      skipped: {m['membership_skipped']}")
    if m.get("membership"):
        rows = m["membership"]["rows"]
        sets = list(dict.fromkeys(row["ood"] for row in rows))
        lines.append(f"membership      AUROC, test split vs each set (other dataset: "
                     f"{m['membership']['other_dataset'] or 'none'})")
        lines.append(f"  {'score':<11}" + "".join(f"{s[:16]:>17}" for s in sets))
        for score in dict.fromkeys(row["score"] for row in rows):
            auroc = {row["ood"]: row["auroc"] for row in rows if row["score"] == score}
            lines.append(f"  {score:<11}" + "".join(f"{f(auroc.get(s), '.3f'):>17}" for s in sets))
    return "\n".join(lines)


def format_warnings(command: str, warnings: Sequence[str]) -> str:
    """One stderr line per warning, prefixed like the command's errors."""
    return "\n".join(f"latentlab {command}: warning: {w}" for w in warnings)


def warn(command: str, warnings: list[str]) -> None:
    """Print `warnings` on stderr under the command's name (nothing when there are none)."""
    if warnings:
        print(format_warnings(command, warnings), file=sys.stderr, flush=True)
