// The Run panel's metrics as sections of small tables, the way the HTML report shows metrics.json:
// pure data out ({title, head, rows, note}), so the panel only builds elements and the layout is testable.
// A cell is text, or {text, tone} where tone is "good" or "bad".

import { fmt } from "./format.js";

const SOURCES = { "metrics.json": "from metrics.json", history: "final epoch of the training history",
                  none: "no metrics recorded" };

export function sourceNote(source) {
  return SOURCES[source] || "";
}

// One value as table text: numbers to 4 decimals, booleans as yes/no, nothing as a dash.
export function cellText(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") return fmt(v, 4);
  if (Array.isArray(v)) return `[${v.map(cellText).join(", ")}]`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// Nested objects as [dotted key, text] pairs: whatever shape a section has, nothing reads "[object Object]".
function pairs(obj, prefix = "") {
  return Object.entries(obj).flatMap(([k, v]) => v && typeof v === "object" && !Array.isArray(v)
    ? pairs(v, `${prefix}${k}.`) : [[prefix + k, cellText(v)]]);
}

// A measure/value section from chosen [key, label] rows (missing or null ones left out), then any
// keys neither chosen nor skipped, under their own names, so new fields in metrics.json still show.
function measures(title, obj, chosen, skip = []) {
  const rows = chosen.filter(([k]) => obj[k] !== null && obj[k] !== undefined).map(([k, label]) => [label, cellText(obj[k])]);
  const known = new Set([...chosen.map(([k]) => k), ...skip]);
  const rest = Object.fromEntries(Object.entries(obj).filter(([k, v]) => !known.has(k) && v !== null));
  return { title, head: null, rows: [...rows, ...pairs(rest)] };
}

function vaeSection(v) {
  return measures("VAE (test split, nats per image)", v, [
    ["elbo", "ELBO"], ["recon", "reconstruction term"], ["kl", "KL term"],
    ["iwae_log_likelihood", `IWAE log-likelihood (k=${cellText(v.iwae_k)})`], ["iwae_bits_per_dim", "bits per dimension"],
  ], ["neg_elbo", "iwae_k"]);
}

function latentSection(v) {
  const s = measures("Latent space", v, [[`knn_accuracy`, `k-NN accuracy (k=${cellText(v.knn_k)})`],
                                         ["silhouette", "silhouette by class"]], ["knn_k", "silhouette_n", "note"]);
  return { ...s, note: v.note || "" };
}

function denoisingSection(v) {
  const rows = Object.entries(v.levels || {}).map(([factor, lv]) => [factor,
    ...["noisy_psnr_db", "denoised_psnr_db", "noisy_ssim", "denoised_ssim"].map((k) => cellText(lv[k]))]);
  return { title: `Denoising (${v.noise || "Gaussian"} noise, test split)`,
           head: ["noise factor", "noisy PSNR", "denoised PSNR", "noisy SSIM", "denoised SSIM"], rows };
}

// AUROC per out-of-distribution set (rows) and novelty score (columns), as in the report.
function membershipSection(v) {
  const rows = v.rows || [];
  const scores = [...new Set(rows.map((r) => r.score))];
  const bySet = new Map();
  for (const r of rows) {
    if (!bySet.has(r.ood)) bySet.set(r.ood, {});
    bySet.get(r.ood)[r.score] = r.auroc;
  }
  const auroc = (a) => (typeof a !== "number" ? "–"
    : { text: a.toFixed(3), tone: a >= 0.95 ? "good" : (a < 0.7 ? "bad" : "") });
  const other = v.other_source ? ` Other dataset: ${v.other_source}.` : "";
  return {
    title: "Is this image part of the data set? AUROC, test split against each set",
    head: ["out-of-distribution set", ...scores],
    rows: [...bySet].map(([ood, vals]) => [ood, ...scores.map((s) => auroc(vals[s]))]),
    note: `AUROC 1.0 separates perfectly, 0.5 is chance; "combined" is the default detector.${other}`,
  };
}

const SECTIONS = {
  model: (v) => measures("Model", v, [["kind", "kind"], ["variational", "variational"], ["latent_dim", "latent dimensions"]]),
  reconstruction: (v) => measures("Reconstruction (test split, per pixel)", v, [
    ["bce_per_pixel", "binary cross-entropy"], ["mse_per_pixel", "mean squared error"], ["psnr_db", "PSNR (dB)"],
    ["ssim", "SSIM"]]),
  denoising: denoisingSection,
  vae: vaeSection,
  latent: latentSection,
  membership: (v) => (v.rows && v.rows.length ? membershipSection(v) : measures("Membership", v, [])),
  timings_s: (v) => measures("Timings (seconds)", v, []),
};

// The sections of a metrics object: its plain values first (untitled), then one per nested object in the
// order given; a section that is null (not measured for this run) or has no rows is left out.
export function metricSections(values) {
  const entries = Object.entries(values || {});
  const isSection = ([k, v]) => (v !== null && typeof v === "object" && !Array.isArray(v)) || (v === null && k in SECTIONS);
  const plain = entries.filter((e) => !isSection(e)).map(([k, v]) => [k, cellText(v)]);
  const nested = entries.filter((e) => isSection(e) && e[1] !== null)
    .map(([k, v]) => (SECTIONS[k] ? SECTIONS[k](v) : measures(k, v, [])));
  return [{ title: "", head: null, rows: plain }, ...nested].filter((s) => s.rows.length);
}
