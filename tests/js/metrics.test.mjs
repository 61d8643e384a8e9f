import assert from "node:assert/strict";
import { test } from "node:test";

import { cellText, metricSections, sourceNote } from "../../src/latentlab/web/static/js/metrics.js";

// The shape of a real metrics.json (latentlab evaluate), trimmed to two sets and two scores.
const METRICS = {
  run: "mnist-vae", preset: "mnist-vae", dataset: "mnist-sample", is_sample: true, n_train: 2000, n_test: 500,
  model: { kind: "dense", variational: true, latent_dim: 2 },
  reconstruction: { bce_per_pixel: 0.18234567, mse_per_pixel: 0.0456, psnr_db: 14.2, ssim: 0.61 },
  denoising: null,
  vae: { elbo: -142.5, neg_elbo: 142.5, recon: 137.25, kl: 5.25, iwae_log_likelihood: -139.125, iwae_k: 100,
         iwae_bits_per_dim: 0.256 },
  latent: { knn_k: 5, knn_accuracy: 0.912, silhouette: 0.33, silhouette_n: 500 },
  membership: {
    positive: "in-distribution test images", target_fpr: 0.05, other_dataset: "fashion-mnist",
    other_source: "bundled sample", sets: { "fashion-mnist": 500, noise: 500 },
    rows: [
      { score: "combined", ood: "fashion-mnist", auroc: 0.991, aupr_in: 0.99 },
      { score: "combined", ood: "noise", auroc: 1.0 },
      { score: "elbo", ood: "fashion-mnist", auroc: 0.65 },
      { score: "elbo", ood: "noise", auroc: null },
    ],
  },
  timings_s: { reconstruction: 0.5, vae: 12.25, total: 13 },
};

const byTitle = (sections) => Object.fromEntries(sections.map((s) => [s.title, s]));
const allText = (sections) => JSON.stringify(sections);

test("nested metrics become titled sections in metrics.json's order; nothing reads [object Object]", () => {
  const sections = metricSections(METRICS);
  assert.deepEqual(sections.map((s) => s.title), [
    "", "Model", "Reconstruction (test split, per pixel)", "VAE (test split, nats per image)", "Latent space",
    "Is this image part of the data set? AUROC, test split against each set", "Timings (seconds)"]);
  assert.ok(!allText(sections).includes("[object Object]"));
  const s = byTitle(sections);
  assert.deepEqual(s[""].rows, [["run", "mnist-vae"], ["preset", "mnist-vae"], ["dataset", "mnist-sample"],
                                ["is_sample", "yes"], ["n_train", "2000"], ["n_test", "500"]]);
  assert.deepEqual(s.Model.rows, [["kind", "dense"], ["variational", "yes"], ["latent dimensions", "2"]]);
  assert.deepEqual(s["Reconstruction (test split, per pixel)"].rows, [
    ["binary cross-entropy", "0.1823"], ["mean squared error", "0.0456"], ["PSNR (dB)", "14.2000"], ["SSIM", "0.6100"]]);
  assert.deepEqual(s["VAE (test split, nats per image)"].rows, [
    ["ELBO", "-142.5000"], ["reconstruction term", "137.2500"], ["KL term", "5.2500"],
    ["IWAE log-likelihood (k=100)", "-139.1250"], ["bits per dimension", "0.2560"]]);
  assert.deepEqual(s["Latent space"].rows, [["k-NN accuracy (k=5)", "0.9120"], ["silhouette by class", "0.3300"]]);
  assert.deepEqual(s["Timings (seconds)"].rows, [["reconstruction", "0.5000"], ["vae", "12.2500"], ["total", "13"]]);
  assert.equal(s[""].head, null);
});

test("membership is a table of AUROC per out-of-distribution set and score, toned like the report", () => {
  const m = metricSections(METRICS).find((s) => s.title.startsWith("Is this image"));
  assert.deepEqual(m.head, ["out-of-distribution set", "combined", "elbo"]);
  assert.deepEqual(m.rows, [
    ["fashion-mnist", { text: "0.991", tone: "good" }, { text: "0.650", tone: "bad" }],
    ["noise", { text: "1.000", tone: "good" }, "–"],
  ]);
  assert.match(m.note, /Other dataset: bundled sample\./);
});

test("denoising levels are one row per noise factor", () => {
  const [den] = metricSections({
    denoising: { noise: "gaussian", levels: { 0.25: { noisy_psnr_db: 12, denoised_psnr_db: 18.5, noisy_ssim: 0.3,
                                                      denoised_ssim: 0.7 }, 0.5: { noisy_psnr_db: 7 } } } });
  assert.equal(den.title, "Denoising (gaussian noise, test split)");
  assert.deepEqual(den.head, ["noise factor", "noisy PSNR", "denoised PSNR", "noisy SSIM", "denoised SSIM"]);
  assert.deepEqual(den.rows, [["0.25", "12", "18.5000", "0.3000", "0.7000"], ["0.5", "7", "–", "–", "–"]]);
});

test("history metrics stay one plain table; unknown nested fields still read as dotted keys", () => {
  assert.deepEqual(metricSections({ epochs: 2, "train loss": 0.123456, "val loss": null }),
                   [{ title: "", head: null, rows: [["epochs", "2"], ["train loss", "0.1235"], ["val loss", "–"]]}]);
  const [extra] = metricSections({ probe: { a: { b: 1 }, list: [1, { c: 2 }] } });
  assert.deepEqual(extra, { title: "probe", head: null, rows: [["a.b", "1"], ["list", '[1, {"c":2}]']] });
  assert.deepEqual(metricSections({}), []);
  assert.deepEqual(metricSections({ vae: null, denoising: null, reconstruction: {} }), []);
});

test("cellText and sourceNote", () => {
  assert.equal(cellText(false), "no");
  assert.equal(cellText(undefined), "–");
  assert.equal(cellText(1e-6), "1.00e-6");
  assert.equal(sourceNote("history"), "final epoch of the training history");
  assert.equal(sourceNote("other"), "");
});
