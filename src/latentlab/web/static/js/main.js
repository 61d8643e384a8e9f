// The page's entry point: loads the served runs, builds the panels and tells them when the run changes.
// The only module that knows every panel. Panels share state through the store: `view` (the loaded run:
// {run, latent, net}, null while loading), `point` (shown on the plane), `tile` (pointed at on the
// manifold) and `mine` (where the tried image lies).

import * as api from "./api.js";
import { loadNet } from "./decoder.js";
import { initDenoise } from "./denoise.js";
import { byId } from "./dom.js";
import { describeRun, runLabel } from "./format.js";
import { initManifold } from "./manifold.js";
import { initPlanePanel } from "./plane-panel.js";
import { initRunInfo } from "./run-info.js";
import { createStore } from "./store.js";
import { initTryImage } from "./try-image.js";

const params = new URLSearchParams(location.search);
const store = createStore({ view: null, point: null, tile: null, mine: null });

function showStatus(text) {
  const box = byId("status");
  box.textContent = text || "";
  box.hidden = !text;
}
const onError = (e) => showStatus(e.message);

const panels = {
  plane: initPlanePanel({ store, onError }),
  manifold: initManifold({ store }),
  tryImage: initTryImage({ store }),
  denoise: initDenoise({ store, onError }),
  runInfo: initRunInfo(),
};

// The run's plane and, for a dense decoder, its weights; ?decoder=server asks the server for every point.
async function loadView(run) {
  const latent = await api.latent(run.id);
  const inPage = run.decoder === "browser" && params.get("decoder") !== "server";
  return { run, latent, net: inPage ? loadNet(await api.decoderWeights(run.id)) : null };
}

let selection = 0;  // counts selections, so a run picked meanwhile wins over one still loading

async function selectRun(run) {
  const ticket = ++selection;
  store.set({ view: null, point: null, tile: null, mine: null });
  document.body.dataset.ready = "";
  byId("run-line").textContent = describeRun(run);
  panels.runInfo.render(run);
  const view = await loadView(run);
  if (ticket !== selection) return;
  store.set({ view });
  panels.plane.show(view);
  panels.manifold.show(view);
  panels.denoise.show(view);
  panels.tryImage.show(view);
  document.body.dataset.ready = "1";  // the browser tests wait for this
}

async function start() {
  try {
    const listed = await api.listRuns();
    // A run the server could not describe comes as {id, error}: said, and left out of the picker.
    const runs = listed.filter((r) => !r.error);
    const broken = listed.filter((r) => r.error).map((r) => `${r.id} (${r.error})`);
    if (broken.length) showStatus(`Left out: ${broken.join("; ")}`);
    const find = (id) => runs.find((r) => r.id === id) || runs[0];
    const picker = byId("run-picker");
    picker.replaceChildren(...runs.map((r) => new Option(runLabel(r), r.id)));
    byId("picker-label").hidden = runs.length < 2;
    picker.addEventListener("change", () => selectRun(find(picker.value)).catch(onError));
    const wanted = params.get("run");
    if (wanted && runs.some((r) => r.id === wanted)) picker.value = wanted;
    await selectRun(find(picker.value));
  } catch (e) {
    showStatus(`Could not load the runs: ${e.message}`);
  }
}

start();
