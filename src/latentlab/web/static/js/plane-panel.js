// The latent plane panel: the scatter of test codes, its legend, and the image decoded at the point under
// the pointer (or the pinned one). A dense decoder runs in the page; any other is asked of the server,
// one request at a time. Publishes the point shown as `point` in the store; draws the store's `tile`
// (from the manifold) and `mine` (the tried image).

import * as api from "./api.js";
import { decodePoint, imageRGBA } from "./decoder.js";
import { byId, el, frameScheduler } from "./dom.js";
import { planeNote } from "./format.js";
import { centreOf, nudge, planeMap } from "./plane.js";
import { colour, drawMarkers, drawScatter } from "./plane-draw.js";

export function initPlanePanel({ store, onError }) {
  const canvas = byId("plane"), decoded = byId("decoded");
  const base = document.createElement("canvas");  // the scatter, redrawn only when it changes
  let size = 0, focus = -1;
  let pointer = null, pinned = null;  // the point under the pointer; the one last clicked, shown when it leaves
  const latent = () => store.get().view?.latent;

  const redraw = frameScheduler(() => {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, size, size);
    ctx.drawImage(base, 0, 0, size, size);
    if (!latent()) return;
    const { tile, mine } = store.get();
    drawMarkers(ctx, planeMap(latent(), size), { tile, mine, pinned, pointer });
  });

  function drawBase() {
    const ctx = base.getContext("2d");
    ctx.clearRect(0, 0, size, size);
    if (latent()) drawScatter(ctx, planeMap(latent(), size), latent(), focus);
    redraw();
  }

  // Canvas pixels follow the CSS size times the device pixel ratio, so the dots stay sharp.
  function resize() {
    const css = Math.round(canvas.getBoundingClientRect().width) || 440;
    const dpr = window.devicePixelRatio || 1;
    size = css;
    for (const c of [canvas, base]) {
      c.width = Math.round(css * dpr);
      c.height = Math.round(css * dpr);
      c.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
    }
    canvas.style.height = `${css}px`;
    drawBase();
  }

  function drawLegend(L) {
    const present = new Set(L.labels);
    const items = L.classes.map((name, k) => [name, k]).filter(([, k]) => present.has(k));
    if (present.has(-1) || !items.length) items.push(["unlabelled", -1]);
    byId("legend").replaceChildren(...items.map(([name, k]) => {
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = colour(k);
      const li = el("li", {}, swatch, document.createTextNode(name));
      li.addEventListener("mouseenter", () => { focus = k; drawBase(); });
      li.addEventListener("mouseleave", () => { focus = -1; drawBase(); });
      return li;
    }));
  }

  function paint(pixels, p, shape) {
    const ctx = decoded.getContext("2d"), img = ctx.createImageData(shape[2], shape[1]);
    img.data.set(imageRGBA(pixels, shape));
    ctx.putImageData(img, 0, 0);
    decoded.dataset.point = `${p.x},${p.y}`;  // which point the image shows (the browser tests read it)
  }

  const decodeOnServer = api.latestOnly(async ({ view, p }) => {
    const bitmap = await createImageBitmap(await api.decodePng(view.run.id, p));
    if (store.get().view !== view) return;  // the run changed meanwhile
    decoded.getContext("2d").drawImage(bitmap, 0, 0);
    decoded.dataset.point = `${p.x},${p.y}`;
  }, onError);

  function showPoint(p) {
    store.set({ point: pointer || pinned });
    redraw();
    const view = store.get().view;
    if (!p || !view) return;
    byId("coords").textContent = `${view.latent.plane === "pca" ? "(PC1, PC2)" : "z"} = ` +
      `(${p.x.toFixed(2)}, ${p.y.toFixed(2)})`;
    if (view.net) paint(decodePoint(view.net, view.latent.basis, p), p, view.run.image_shape);
    else decodeOnServer({ view, p });
  }

  function pointAt(e) {
    const rect = canvas.getBoundingClientRect();
    return planeMap(latent(), size).fromPx(e.clientX - rect.left, e.clientY - rect.top);
  }

  canvas.addEventListener("pointermove", (e) => {
    if (!latent()) return;
    pointer = pointAt(e);
    showPoint(pointer);
  });
  canvas.addEventListener("pointerdown", (e) => {
    if (!latent()) return;
    pinned = pointer = pointAt(e);
    showPoint(pinned);
  });
  canvas.addEventListener("pointerleave", () => {
    pointer = null;
    showPoint(pinned);
  });
  canvas.addEventListener("keydown", (e) => {
    const next = latent() && nudge(latent(), pinned || { x: 0, y: 0 }, e.key);
    if (!next) return;
    e.preventDefault();  // arrows move the point, not the page
    pinned = next;
    showPoint(pinned);
  });
  window.addEventListener("resize", () => { if (latent()) resize(); });
  store.subscribe(redraw, ["tile", "mine"]);

  return {
    // A new run is loaded: its note, legend and scatter; the point starts pinned at the plane's centre.
    show(view) {
      [, decoded.height, decoded.width] = view.run.image_shape;  // the canvas holds one image of the run's size
      byId("plane-note").textContent = planeNote(view.latent, view.run);
      byId("decode-mode").textContent = view.net ? "decoded in your browser" : "decoded by the server";
      drawLegend(view.latent);
      resize();
      pointer = null;
      pinned = centreOf(view.latent);
      showPoint(pinned);
    },
  };
}
