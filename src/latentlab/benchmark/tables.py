"""The one-class benchmark's result as tables (markdown, or header + rows for the report's HTML) and chart series.

Everything is in percent here, as the papers print it; the result dict keeps sklearn's fractions. Published rows
are quoted for the classes that were run: their mean column is the published 10-class mean when all ten classes
ran, the mean of their per-class values over the same classes (marked *) when fewer did, and blank for rows that
published only a mean.
"""

from __future__ import annotations

from typing import Any

from latentlab.benchmark.task import DEFAULT, KNN

DASH = "–"
SUBSET_MARK = "*"


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def default_label(result: dict[str, Any]) -> str:
    return f"latentlab default ({result['settings']['default_score']})"


def chosen_label(result: dict[str, Any]) -> str:
    """The headline row's label: the default chosen on the training split (or kept, and why not chosen)."""
    picked = result["choice"]
    if picked["fallback"] is not None:
        return f"default (fixed: {picked['chosen']})"
    if picked["chosen"] == "per class":
        return "default (chosen per class on the training split)"
    return f"default (chosen on the training split: {picked['chosen']})"


def chosen_keys(result: dict[str, Any]) -> list[str]:
    """Per class, the key of its chosen default's results in `result["results"][i]["scores"]`."""
    default = result["settings"]["default_score"]
    return [DEFAULT if score == default else score for score in result["choice"]["per_class"]]


def headline_label(result: dict[str, Any]) -> str:
    """The label of the row the chart and summaries lead with: the chosen default, or (results written before the
    choice existed) the detector's default."""
    return chosen_label(result) if "choice" in result else default_label(result)


def _published_mean(row: dict[str, Any], classes: list[int]) -> tuple[float | None, str]:
    if sorted(classes) == list(range(10)):
        return row["mean"], ""
    if row["per_class"] is None:
        return None, ""
    return sum(row["per_class"][c] for c in classes) / len(classes), SUBSET_MARK


def method_rows(result: dict[str, Any], metric: str = "auroc") -> list[dict[str, Any]]:
    """One dict per table row: label, values (per class, %), mean (%), mean_mark, notes, kind."""
    per_class = result["results"]
    classes = [r["class"] for r in per_class]
    steps = result["settings"]["steps"]
    ours = f"this run: {result['settings']['preset']}, {steps} steps, seeds {result['settings']['seeds']}"
    rows = []
    if "choice" in result:  # the headline: the chosen scores' test results (results before the choice lack it)
        values = [100 * r["scores"][key][metric] for r, key in zip(per_class, chosen_keys(result), strict=True)]
        rows.append({"label": chosen_label(result), "kind": "ours", "notes": f"{ours}; {_choice_note(result)}",
                     "values": values, "mean": sum(values) / len(values), "mean_mark": ""})
    for key in result["settings"]["scores"]:
        label = default_label(result) if key == DEFAULT else f"single score: {key}"
        rows.append({"label": label, "kind": "ours", "notes": ours if key == DEFAULT else "this run",
                     "values": [100 * r["scores"][key][metric] for r in per_class],
                     "mean": 100 * result["mean"][key][metric], "mean_mark": ""})
    rows.append({"label": f"raw-pixel {result['settings']['knn_k']}-NN distance", "kind": "baseline",
                 "notes": "this run, the same images; no training",
                 "values": [100 * r["baselines"][KNN][metric] for r in per_class],
                 "mean": 100 * result["mean"][KNN][metric], "mean_mark": ""})
    if metric != "auroc":
        return rows
    for row in result["published"]:
        mean, mark = _published_mean(row, classes)
        rows.append({"label": row["method"], "kind": "published", "notes": row["citation"], "mean": mean,
                     "mean_mark": mark, "values": [None if row["per_class"] is None else row["per_class"][c]
                                                   for c in classes]})
    return rows


def _choice_note(result: dict[str, Any]) -> str:
    picked = result["choice"]
    if picked["fallback"] is not None:
        return picked["fallback"]
    return "validation AUROC " + ", ".join(f"{c} {100 * v['mean']:.2f}" for c, v in picked["validation"].items())


def choice_lines(result: dict[str, Any]) -> list[str]:
    """Markdown: how the default was chosen, and each candidate's validation AUROC (%) per class and mean."""
    if "choice" not in result:
        return []
    picked = result["choice"]
    lines = ["## The default's choice", "", f"Chosen: `{picked['chosen']}`. Rule: {picked['rule']}", ""]
    if picked["fallback"] is not None:
        return [*lines, f"Not chosen: {picked['fallback']}.", ""]
    header = ["validation AUROC (%)", *(r["name"] for r in result["results"]), "mean"]
    body = [[c, *(f"{100 * v:.2f}" for v in val["per_class"]), f"{100 * val['mean']:.2f}"]
            for c, val in picked["validation"].items()]
    body.append(["chosen", *picked["per_class"], picked["chosen"]])
    return [*lines, *_md_table(header, body), ""]


def table(result: dict[str, Any], metric: str = "auroc") -> tuple[list[str], list[list[str]]]:
    """Header and rows of strings: method, one column per class, mean, source and notes."""
    header = ["method", *(r["name"] for r in result["results"]), "mean", "source and notes"]
    body = [[row["label"], *map(_pct, row["values"]), _pct(row["mean"]) + row["mean_mark"], row["notes"]]
            for row in method_rows(result, metric)]
    return header, body


def footnotes(result: dict[str, Any]) -> list[str]:
    """The protocol differences a reader must know before comparing rows."""
    notes = [result["protocol"]]
    if result["published"]:
        notes.append(result["published_note"])
        if any(row["mean_mark"] for row in method_rows(result)):
            notes.append(f"{SUBSET_MARK} mean of the published per-class values over the classes run here, not the "
                         "published 10-class mean.")
    else:
        notes.append("No published rows: they are quoted only beside the data set they were measured on.")
    return notes


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    return [_md_row(header), "|" + "---|" * len(header), *(_md_row(r) for r in body)]


def markdown(result: dict[str, Any]) -> str:
    """The whole result as a markdown page: AUROC with published rows, AUPR of this run, notes, machine."""
    data, s, m = result["dataset"], result["settings"], result["machine"]
    lines = [f"# One-class novelty detection: {data['name']}", "",
             f"Data: {data['source']}. Model: preset `{s['preset']}` ({s['model']}), batch {s['batch_size']}, "
             f"{s['steps']} optimizer steps per class rounded up to whole epochs ({s['epochs_rule']}). Detector: "
             f"`NoveltyDetector` default score `{s['default_score']}`; single scores {', '.join(s['scores'][1:])}.",
             "", "## AUROC (%)", "", *_md_table(*table(result, "auroc")), "",
             "## AUPR (%), the normal class positive", "", *_md_table(*table(result, "aupr")), "",
             *choice_lines(result), "## Notes", ""]
    lines += [f"- {n}" for n in footnotes(result)]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, device {m['device']}; wall time "
              f"{result['wall_s']:.0f} s ({m['note']}). Made by `{result['command']}` on {result['created']}.", ""]
    return "\n".join(lines)


def figure_series(result: dict[str, Any]) -> tuple[list[str], dict[str, list[float | None]], list[str]]:
    """Groups (class names, then "mean"), the AUROC (%) bars of each (the default detector, the raw-pixel k-NN and
    every published row with per-class values) and the labels of the published (quoted) series."""
    n = len(result["results"])
    groups = [r["name"] for r in result["results"]]
    groups.append("mean" if n == len(result["dataset"]["classes"]) else f"mean of {n}")
    series, quoted = {}, []
    for row in method_rows(result):
        if row["kind"] == "ours" and row["label"] != headline_label(result):
            continue  # the single scores are in the tables; the chart compares the default with the others
        if row["kind"] == "published" and all(v is None for v in row["values"]):
            continue
        label = f"{row['label']} (published)" if row["kind"] == "published" else row["label"]
        series[label] = [*row["values"], row["mean"]]
        if row["kind"] == "published":
            quoted.append(label)
    return groups, series, quoted
