// The manifold panel: the server's n x n grid of decoded images. Pointing at a tile publishes it as `tile`
// in the store (the plane outlines it); the store's `point` outlines the tile it falls in here.

import * as api from "./api.js";
import { byId, frameScheduler } from "./dom.js";
import { gridTile, tileCentre, tileOfFraction, tileOfPoint } from "./plane.js";

export function initManifold({ store }) {
  const img = byId("manifold"), overlay = byId("manifold-overlay"), coords = byId("manifold-coords");
  const gridSize = byId("grid-n");
  let n = Number(gridSize.value);

  const drawOverlay = frameScheduler(() => {
    const w = img.clientWidth, h = img.clientHeight;
    if (overlay.width !== w || overlay.height !== h) { overlay.width = w; overlay.height = h; }
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const { view, point, tile } = store.get();
    if (!view || !(point || tile)) return;
    const { i, j } = tile || tileOfPoint(view.latent, n, point);
    ctx.strokeStyle = "#1a73e8";
    ctx.lineWidth = 2;
    ctx.strokeRect(j * w / n + 1, i * h / n + 1, w / n - 2, h / n - 2);
  });

  function load() {
    const { view } = store.get();
    if (!view) return;
    // n x n tiles of the run's images: the grid has their aspect (64x48 images make a wider than tall grid).
    const [, h, w] = view.run.image_shape;
    img.parentElement.style.aspectRatio = `${w} / ${h}`;
    img.src = api.manifoldUrl(view.run.id, n);
  }

  img.addEventListener("pointermove", (e) => {
    const { view } = store.get();
    if (!view) return;
    const rect = img.getBoundingClientRect();
    const { i, j } = tileOfFraction(n, (e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height);
    const tile = gridTile(view.latent, n, i, j), c = tileCentre(tile);
    coords.textContent = `tile (${i + 1}, ${j + 1}) at (${c.x.toFixed(2)}, ${c.y.toFixed(2)})`;
    store.set({ tile });
  });
  img.addEventListener("pointerleave", () => {
    coords.textContent = "";
    store.set({ tile: null });
  });
  img.addEventListener("load", drawOverlay);
  gridSize.addEventListener("change", () => { n = Number(gridSize.value); load(); });
  window.addEventListener("resize", drawOverlay);
  store.subscribe(drawOverlay, ["view", "point", "tile"]);

  return { show: load };
}
