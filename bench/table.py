"""results.json -> the targets it meets and the markdown table `make bench` prints."""

from __future__ import annotations

from typing import Any

RATIO_TARGETS = {"simple": 3.0, "deep": 2.0, "conv": 2.0, "vae": 1.3}
PEAK_TARGETS = {"vae": 0.45, "deep": 0.30}
RSS_LIMIT_MIB = 1.2e9 / 2**20  # 1.2 GB
SCORING_TARGET = 50_000  # images/s, simple model
REPORT_LIMIT_S = 30 * 60  # full profile


def throughput_line(name: str, r: dict[str, Any]) -> str:
    return (f"{name}: engine {r['engine_samples_per_s']:,.0f}/s, canonical {r['canonical_samples_per_s']:,.0f}/s, "
            f"x{r['ratio']:.2f} (same-model loop {_same(r)}); val {r['val_loss_engine']:.4f} vs "
            f"{r['val_loss_canonical']:.4f}")


def _same(r: dict[str, Any]) -> str:
    if r.get("same_model_ratio") is None:
        return "not run"
    return f"{r['same_model_samples_per_s']:,.0f}, x{r['same_model_ratio']:.2f}"


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it is met (only for the sections that ran)."""
    out: dict[str, dict[str, Any]] = {}

    def add(key: str, value: float, target: float, higher_is_better: bool = True) -> None:
        met = value >= target if higher_is_better else value <= target
        out[key] = {"value": value, "target": target, "goal": ">=" if higher_is_better else "<=", "met": bool(met)}

    for name, r in results.get("throughput", {}).items():
        add(f"{name} speed-up vs canonical", r["ratio"], RATIO_TARGETS[name])
        add(f"{name} val loss / canonical", r["val_loss_engine"] / r["val_loss_canonical"], 1.01, False)
    for name, target in PEAK_TARGETS.items():
        if name in results.get("flops", {}):
            add(f"{name} fraction of peak", results["flops"][name]["fraction_of_peak"], target)
    for name, r in results.get("memory", {}).items():
        add(f"{name} peak RSS MiB", r["peak_rss_mib"], RSS_LIMIT_MIB, False)
    scoring = results.get("inference", {}).get("scoring", {})
    if "simple" in scoring:
        add("simple scoring images/s", scoring["simple"]["recon_bce_images_per_s"], SCORING_TARGET)
    colour = results.get("colour")
    if colour:
        t = colour["throughput"]
        add("colour conv val loss / plain loop", t["val_loss_ratio"], 1.01, False)
        add("colour conv speed-up vs plain loop", t["ratio"], 1.0)
        if colour.get("steps"):
            add("colour conv step speed-up vs plain loop (1 thread, alternating)", colour["steps"]["ratio"], 1.0)
        add("colour 50k-image training peak RSS MiB", colour["memory"]["peak_rss_mib"], colour["memory"]["limit_mib"],
            False)
    report = results.get("report_time", {})
    if report:
        add("full report s (estimated)", report["estimate"]["full"]["total_s"], REPORT_LIMIT_S, False)
    return out


def _n(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _ttq(r: dict[str, Any]) -> str:
    t = r["time_to_quality"]
    if t["engine_epochs"] is None:
        return f"not reached / {t['canonical_wall_s']:.0f} s"
    star = " (est.)" if t["estimated"] else ""
    return (f"{t['engine_wall_s']:.1f} s ({t['engine_epochs']} ep) / {t['canonical_wall_s']:.1f} s, "
            f"x{t['speedup']:.1f}{star}")


def markdown(results: dict[str, Any]) -> str:
    m, d = results["machine"], results["data"]
    lines = [f"Machine: {m['cpu']}, {m['logical_cpus']} cores, torch {m['torch']} ({m['torch_threads']} threads, "
             f"{m['cpu_capability']}); data: {d['name']} from {d['source']} ({d['n_train']:,} train / "
             f"{d['n_test']:,} test){' (sample)' if d['is_sample'] else ''}; load average "
             f"{results['load_average_start']} -> {results['load_average_end']}", ""]
    tp, fl, mem = results.get("throughput", {}), results.get("flops", {}), results.get("memory", {})
    if tp:
        lines += ["| model | batch | epochs (+ speed reps) | engine img/s | canonical img/s | "
                  "speed-up [per pair] (target) | same-model loop img/s, speed-up | val loss engine / canonical | "
                  "time to canonical's 10-epoch loss, engine / canonical | GFLOP/s (% of peak) | peak RSS MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in tp.items():
            f = fl.get(name)
            gf = f"{f['achieved_gflops']:.1f} ({100 * f['fraction_of_peak']:.0f}%)" if f else "-"
            rss = _n(mem[name]["peak_rss_mib"]) if name in mem else "-"
            lines.append(f"| {name} | {r['batch_size']} | {r['epochs']} (+{r['reps'] - 1}x{r['speed_epochs']}) | "
                         f"{_n(r['engine_samples_per_s'])} | {_n(r['canonical_samples_per_s'])} | "
                         f"x{r['ratio']:.2f} [{min(r['paired_ratios']):.2f}-{max(r['paired_ratios']):.2f}] "
                         f"(x{RATIO_TARGETS[name]}) | {_same(r)} | "
                         f"{r['val_loss_engine']:.4f} / {r['val_loss_canonical']:.4f} | {_ttq(r)} | {gf} | {rss} |")
        lines.append("")
        lines.append("The canonical loop's DataLoader alone (no model) per epoch, against its whole epoch, and the "
                     "speed-up an engine would get from removing it with identical model math: " + ", ".join(
                         f"{k} {r['canonical_loader_s_per_epoch']:.2f} of {r['canonical_epoch_s']:.2f} s -> "
                         f"x{r['ratio_ceiling_without_loader']:.2f}" for k, r in tp.items()) + ".")
    if fl:
        gemms = results["peak_start"]["gemm_gflops"]
        ends = results["peak_end"]["gemm_gflops"]
        lines.append(f"Peak float32 matmul: {fl['peak_gflops']:.0f} GFLOP/s best ("
                     + ", ".join(f"{k} {v:.0f}" for k, v in gemms.items()) + " at start; "
                     + ", ".join(f"{v:.0f}" for v in ends.values()) + " at end). % of peak in the table is "
                     "against square matmuls timed just before and after each model: "
                     + ", ".join(f"{k} {v['peak_gflops_around']:.0f}" for k, v in fl.items() if isinstance(v, dict))
                     + " GFLOP/s.")
    comp = results.get("compile")
    if comp:
        lines.append("train.compile=true (inductor, CPU): " + ", ".join(
            f"{k} x{v['ratio']:.2f} steady ({_n(v['compiled_samples_per_s'])} vs {_n(v['eager_samples_per_s'])} "
            f"img/s), compile {v['compile_s_cold_cache']:.0f} s (empty cache)"
            for k, v in comp.items()) + ".")
    inf = results.get("inference")
    if inf:
        parts = [f"{k} {_n(v['recon_bce_images_per_s'])} img/s" for k, v in inf["scoring"].items()]
        lat = [f"{k} p50 {v['model_decode']['p50_ms']:.3f} / p95 {v['model_decode']['p95_ms']:.3f} ms"
               for k, v in inf["decode_latency"].items()]
        lines.append("Scoring (per-image BCE, 10k test images): " + ", ".join(parts)
                     + "; single-point decode: " + ", ".join(lat) + ".")
        web = inf.get("web", {})
        if web.get("status") == "measured":
            lines.append(f"Web decode endpoint (vae, in process): p50 {web['p50_ms']:.2f} / "
                         f"p95 {web['p95_ms']:.2f} ms.")
        nov = inf.get("novelty", {})
        if nov.get("status") == "measured":
            lines.append("Novelty score_samples (vae): " + ", ".join(
                f"{k} {_n(v['images_per_s'])} img/s" for k, v in nov.items() if isinstance(v, dict)) + ".")
    sc = results.get("scaling")
    if sc:
        s = sc["samples_per_s"]
        lines.append(f"DDP ({sc['preset']}): " + ", ".join(f"{k} {_n(v)} img/s" for k, v in s.items())
                     + f"; 2 processes vs 1: x{sc['speedup_vs_1_process']:.2f}, efficiency vs 2 x 1 thread "
                     f"{100 * sc['efficiency_vs_2x_1_thread']:.0f}%.")
    rt = results.get("report_time")
    if rt:
        est, quick = rt["estimate"], rt["quick"]
        measured = (f"{quick['wall_s']:.0f} s ({quick['training_s']:.0f} s of it training, on "
                    + ", ".join(sorted({str(r['dataset']) for r in quick["runs"].values()})) + ")"
                    if "wall_s" in quick else quick["status"])
        lines.append(f"`latentlab report --profile quick` measured: {measured}. Estimated on full-size data "
                     f"(60,000 images per experiment): quick {est['quick']['total_s'] / 60:.1f} min, full "
                     f"{est['full']['total_s'] / 60:.1f} min.")
    if results.get("colour"):
        from bench.colour import line

        lines.append(line(results["colour"]) + ".")
    tg = results.get("targets", {})
    if tg:
        lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
        for key, t in tg.items():
            lines.append(f"| {key} | {t['value']:,.3g} | {t['goal']} {t['target']:,.3g} | "
                         f"{'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)
