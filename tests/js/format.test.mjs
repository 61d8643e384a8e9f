import assert from "node:assert/strict";
import { test } from "node:test";

import { describeRun, flatten, fmt, planeNote, runLabel } from "../../src/latentlab/web/static/js/format.js";

test("fmt: integers as they are, decimals fixed, extremes in exponent form, nothing as a dash", () => {
  assert.equal(fmt(3), "3");
  assert.equal(fmt(0.123456), "0.123");
  assert.equal(fmt(0.123456, 4), "0.1235");
  assert.equal(fmt(0), "0");
  assert.equal(fmt(0.0001234), "1.23e-4");
  assert.equal(fmt(123456.7), "1.23e+5");
  assert.equal(fmt(null), "–");
  assert.equal(fmt(undefined), "–");
  assert.equal(fmt("mnist"), "mnist");
});

test("flatten: nested settings become dotted keys, arrays inline", () => {
  const rows = flatten({ name: "x", model: { hidden: [32, 16], latent_dim: 2, noise: { kind: "none" } }, lr: 0.001 });
  assert.deepEqual(rows, [["name", "x"], ["model.hidden", "[32, 16]"], ["model.latent_dim", "2"],
                          ["model.noise.kind", "none"], ["lr", "0.001"]]);
});

test("describeRun and runLabel", () => {
  const vae = { id: "v", variational: true, kind: "dense", latent_dim: 2, dataset: "mnist", denoising: false, epochs_done: 1 };
  assert.equal(describeRun(vae), "VAE · 2-D latent · mnist · 1 epoch");
  const dae = { ...vae, variational: false, latent_dim: 8, denoising: true, noise: { kind: "gaussian", factor: 0.5 },
                epochs_done: 3 };
  assert.equal(describeRun(dae), "dense autoencoder · 8-D latent · mnist · denoising (gaussian 0.5) · 3 epochs");
  assert.equal(runLabel(dae), "v (dense, 8-D)");
});

test("planeNote: PCA share of variance, or what the codes are; a data error wins", () => {
  const pca = { plane: "pca", points: [[0, 0], [1, 1]], n_test: 1000, latent_dim: 8, explained: [0.41, 0.226] };
  const note = planeNote(pca, {});
  assert.match(note, /^2 of 1,000 test images, projected from the 8-D codes/);
  assert.match(note, /\(41% \+ 23% of the variance\)/);
  assert.match(note, /the other 6 directions/);
  assert.match(planeNote({ ...pca, plane: "latent", latent_dim: 2 }, { variational: true }), /^Posterior means of 2/);
  assert.match(planeNote({ ...pca, plane: "latent", latent_dim: 1 }, {}), /latent is 1-D/);
  assert.equal(planeNote(pca, { data_error: "no data" }), "no data");
});
