// The denoise panel: a test image, a noisy copy at the chosen level and the model's output, from the server.

import * as api from "./api.js";
import { byId } from "./dom.js";
import { fmt } from "./format.js";

function denoiseNote(run) {
  return run.denoising
    ? `This run was trained to remove ${run.noise.kind} noise (level ${run.noise.factor}). Pick a test image and a noise level.`
    : "This run was not trained to denoise: the output is what the plain autoencoder makes of the noisy input (Gaussian noise).";
}

export function initDenoise({ store, onError }) {
  const index = byId("index"), noise = byId("noise");
  let seed = 0;  // "New noise" draws another sample at the same level

  // Slider moves come faster than answers: only the latest settings are fetched once one is in flight.
  const fetchDenoise = api.latestOnly(async ({ view, settings }) => {
    const d = await api.denoise(view.run.id, settings);
    if (store.get().view !== view) return;
    byId("dn-clean").src = d.clean;
    byId("dn-noisy").src = d.noisy;
    byId("dn-output").src = d.output;
    byId("index-out").textContent = `#${d.index}${d.label ? ` · class ${d.label}` : ""}`;
    byId("dn-noisy-cap").textContent = `noisy (${d.kind} ${Number(d.noise).toFixed(2)}) · MSE ${fmt(d.mse_noisy, 4)}`;
    byId("dn-output-cap").textContent = `${d.denoising ? "denoised" : "autoencoder output"} · MSE ${fmt(d.mse_output, 4)}`;
  }, onError);

  function update() {
    const { view } = store.get();
    if (!view || !view.run.n_test) return;
    byId("noise-out").textContent = Number(noise.value).toFixed(2);
    fetchDenoise({ view, settings: { index: Number(index.value), noise: Number(noise.value), seed } });
  }

  // Steps wrap around: after the last image comes the first.
  function step(delta) {
    const n = Number(index.max) + 1;
    index.value = String((Number(index.value) + delta + n) % n);
    update();
  }

  index.addEventListener("input", update);
  noise.addEventListener("input", update);
  byId("prev").addEventListener("click", () => step(-1));
  byId("next").addEventListener("click", () => step(1));
  byId("reseed").addEventListener("click", () => { seed += 1; update(); });

  return {
    show(view) {
      byId("denoise-note").textContent = denoiseNote(view.run);
      index.max = String(Math.max(0, view.run.n_test - 1));
      index.value = "0";
      update();
    },
  };
}
