// latentlab serve: the page. Plain JavaScript, no libraries; everything it loads comes from this server.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"];
const params = new URLSearchParams(location.search);

const state = {
  runs: [], run: null, latent: null, net: null, token: 0,
  pointer: null,   // plane point under the pointer
  pinned: null,    // plane point last clicked (shown when the pointer leaves)
  tile: null,      // manifold tile under the pointer: {x0, x1, y0, y1}
  mine: null,      // position of the drawn or uploaded image
  focus: -1,       // class highlighted from the legend
  gridN: 15, seed: 0, lastUpload: null,
};

// ---- small helpers ------------------------------------------------------------------------------------

function colour(label) {
  return label < 0 ? "#9aa0a6" : PALETTE[label % PALETTE.length];
}

function fmt(v, digits = 3) {
  if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

function showStatus(text) {
  const el = $("status");
  el.textContent = text || "";
  el.hidden = !text;
}

async function api(path, options) {
  const r = await fetch(path, options);
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${r.status}: ${detail}`);
  }
  return r;
}

// Calls fn(arg) with at most one call in flight; while one runs, only the newest waiting arg is kept.
function latestOnly(fn) {
  let running = false, waiting = null;
  async function pump() {
    if (running || waiting === null) return;
    const arg = waiting.arg;
    waiting = null;
    running = true;
    try { await fn(arg); } catch (e) { showStatus(e.message); }
    running = false;
    pump();
  }
  return (arg) => { waiting = { arg }; pump(); };
}

function tableRows(table, rows) {
  table.replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    const td = document.createElement("td");
    th.textContent = k;
    td.textContent = v;
    tr.append(th, td);
    return tr;
  }));
}

function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out.push([prefix + k, Array.isArray(v) ? `[${v.join(", ")}]` : String(v)]);
  }
  return out;
}

// ---- the plane: geometry and drawing --------------------------------------------------------------------

const plane = { canvas: $("plane"), base: document.createElement("canvas"), size: 0, pad: { l: 40, r: 10, t: 10, b: 30 } };

function plotSize() {
  const { l, r, t, b } = plane.pad;
  return Math.min(plane.size - l - r, plane.size - t - b);
}

function toPx(x, y) {
  const L = state.latent, P = plotSize();
  return [plane.pad.l + (x - L.x_range[0]) / (L.x_range[1] - L.x_range[0]) * P,
          plane.pad.t + (L.y_range[1] - y) / (L.y_range[1] - L.y_range[0]) * P];
}

function fromPx(px, py) {
  const L = state.latent, P = plotSize();
  const u = Math.min(1, Math.max(0, (px - plane.pad.l) / P));
  const v = Math.min(1, Math.max(0, (py - plane.pad.t) / P));
  return { x: L.x_range[0] + u * (L.x_range[1] - L.x_range[0]), y: L.y_range[1] - v * (L.y_range[1] - L.y_range[0]) };
}

function niceStep(span) {
  const raw = span / 5, mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
}

function resizePlane() {
  const css = Math.round(plane.canvas.getBoundingClientRect().width) || 440;
  const dpr = window.devicePixelRatio || 1;
  plane.size = css;
  for (const c of [plane.canvas, plane.base]) {
    c.width = Math.round(css * dpr);
    c.height = Math.round(css * dpr);
    c.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  plane.canvas.style.height = `${css}px`;
  drawBase();
}

// The scatter is drawn once into an offscreen canvas; pointer moves only redraw the markers on top of it.
function drawBase() {
  const ctx = plane.base.getContext("2d"), L = state.latent;
  ctx.clearRect(0, 0, plane.size, plane.size);
  if (!L) return;
  const P = plotSize(), { l, t } = plane.pad;
  ctx.fillStyle = "#fbfbfc";
  ctx.fillRect(l, t, P, P);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5f6368";
  ctx.strokeStyle = "#e6e8eb";
  ctx.lineWidth = 1;
  const step = niceStep(L.x_range[1] - L.x_range[0]);
  for (const axis of [0, 1]) {
    const [lo, hi] = axis === 0 ? L.x_range : L.y_range;
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      const [px, py] = axis === 0 ? toPx(v, L.y_range[0]) : toPx(L.x_range[0], v);
      ctx.beginPath();
      if (axis === 0) { ctx.moveTo(px, t); ctx.lineTo(px, t + P); } else { ctx.moveTo(l, py); ctx.lineTo(l + P, py); }
      ctx.stroke();
      const label = fmt(Math.round(v / step) * step, step < 1 ? 1 : 0);
      ctx.textAlign = axis === 0 ? "center" : "right";
      ctx.fillText(label, axis === 0 ? px : l - 5, axis === 0 ? t + P + 14 : py + 4);
    }
  }
  const names = L.plane === "pca" ? ["PC1", "PC2"] : ["z₁", "z₂"];
  ctx.textAlign = "center";
  ctx.fillText(names[0], l + P / 2, t + P + 27);
  ctx.save();
  ctx.translate(11, t + P / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(names[1], 0, 0);
  ctx.restore();
  ctx.strokeStyle = "#c9cdd2";
  ctx.strokeRect(l + 0.5, t + 0.5, P - 1, P - 1);

  ctx.save();
  ctx.beginPath();
  ctx.rect(l, t, P, P);
  ctx.clip();
  const r = L.points.length > 2000 ? 1.8 : 2.6;
  L.points.forEach(([x, y], i) => {
    const label = L.labels[i];
    ctx.globalAlpha = state.focus < 0 ? 0.7 : (label === state.focus ? 0.95 : 0.08);
    ctx.fillStyle = colour(label);
    const [px, py] = toPx(x, y);
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    ctx.fill();
  });
  ctx.restore();
  requestDraw();
}

let drawQueued = false;
function requestDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; drawPlane(); drawManifoldOverlay(); });
}

function drawPlane() {
  const ctx = plane.canvas.getContext("2d");
  ctx.clearRect(0, 0, plane.size, plane.size);
  ctx.drawImage(plane.base, 0, 0, plane.size, plane.size);
  if (!state.latent) return;
  if (state.tile) {
    const [x0, y0] = toPx(state.tile.x0, state.tile.y1), [x1, y1] = toPx(state.tile.x1, state.tile.y0);
    ctx.fillStyle = "rgba(26, 115, 232, 0.15)";
    ctx.strokeStyle = "#1a73e8";
    ctx.lineWidth = 2;
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }
  if (state.mine) {
    const [px, py] = toPx(...state.mine);
    ctx.beginPath();
    ctx.moveTo(px, py - 9); ctx.lineTo(px + 9, py); ctx.lineTo(px, py + 9); ctx.lineTo(px - 9, py);
    ctx.closePath();
    ctx.fillStyle = "#fff";
    ctx.fill();
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = "#202124";
    ctx.stroke();
  }
  for (const [p, style] of [[state.pinned, "#5f6368"], [state.pointer, "#202124"]]) {
    if (!p) continue;
    const [px, py] = toPx(p.x, p.y);
    ctx.strokeStyle = style;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.moveTo(px - 12, py); ctx.lineTo(px - 4, py);
    ctx.moveTo(px + 4, py); ctx.lineTo(px + 12, py);
    ctx.moveTo(px, py - 12); ctx.lineTo(px, py - 4);
    ctx.moveTo(px, py + 4); ctx.lineTo(px, py + 12);
    ctx.stroke();
  }
}

function drawLegend() {
  const L = state.latent;
  const present = new Set(L.labels);
  const items = L.classes.map((name, k) => [name, k]).filter(([, k]) => present.has(k));
  if (present.has(-1) || !items.length) items.push(["unlabelled", -1]);
  $("legend").replaceChildren(...items.map(([name, k]) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(k);
    li.append(sw, document.createTextNode(name));
    li.addEventListener("mouseenter", () => { state.focus = k; drawBase(); });
    li.addEventListener("mouseleave", () => { state.focus = -1; drawBase(); });
    return li;
  }));
}

// ---- decoding a plane point -----------------------------------------------------------------------------

function b64floats(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function loadNet(exported) {
  return exported.layers.map((l) => ({ n_in: l.in, n_out: l.out, w: b64floats(l.weight), b: b64floats(l.bias) }));
}

// The dense decoder, run here: code = mean + x*axis1 + y*axis2, then Linear+ReLU layers, sigmoid at the end.
function decodeHere(p) {
  const { mean, axes } = state.latent.basis;
  let h = Float32Array.from(mean, (m, i) => m + p.x * axes[0][i] + p.y * axes[1][i]);
  state.net.forEach((layer, li) => {
    const out = new Float32Array(layer.n_out), last = li === state.net.length - 1;
    for (let o = 0; o < layer.n_out; o++) {
      let s = layer.b[o];
      const row = o * layer.n_in;
      for (let i = 0; i < layer.n_in; i++) s += layer.w[row + i] * h[i];
      out[o] = last ? 1 / (1 + Math.exp(-s)) : Math.max(0, s);
    }
    h = out;
  });
  return h;
}

function paintDecoded(pixels) {
  const ctx = $("decoded").getContext("2d"), img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(pixels[i] * 255);
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

const decodeOnServer = latestOnly(async ({ p, token }) => {
  const r = await api(`/api/runs/${encodeURIComponent(state.run.id)}/decode?x=${p.x}&y=${p.y}`);
  const bitmap = await createImageBitmap(await r.blob());
  if (token !== state.token) return;  // the run changed meanwhile
  const ctx = $("decoded").getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  $("decoded").dataset.point = `${p.x},${p.y}`;
});

function showPoint(p) {
  if (!p || !state.latent) return;
  $("coords").textContent = `${state.latent.plane === "pca" ? "(PC1, PC2)" : "z"} = (${p.x.toFixed(2)}, ${p.y.toFixed(2)})`;
  if (state.net) {
    paintDecoded(decodeHere(p));
    $("decoded").dataset.point = `${p.x},${p.y}`;
  } else {
    decodeOnServer({ p, token: state.token });
  }
  requestDraw();
}

function pointFromEvent(e) {
  const rect = plane.canvas.getBoundingClientRect();
  return fromPx(e.clientX - rect.left, e.clientY - rect.top);
}

plane.canvas.addEventListener("pointermove", (e) => { state.pointer = pointFromEvent(e); showPoint(state.pointer); });
plane.canvas.addEventListener("pointerdown", (e) => { state.pinned = pointFromEvent(e); state.pointer = state.pinned; showPoint(state.pinned); });
plane.canvas.addEventListener("pointerleave", () => { state.pointer = null; showPoint(state.pinned); });
plane.canvas.addEventListener("keydown", (e) => {
  const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  if (!moves[e.key] || !state.latent) return;
  e.preventDefault();
  const L = state.latent, step = (L.x_range[1] - L.x_range[0]) / 50, p = state.pinned || { x: 0, y: 0 };
  const clamp = (v, [lo, hi]) => Math.min(hi, Math.max(lo, v));
  state.pinned = { x: clamp(p.x + moves[e.key][0] * step, L.x_range), y: clamp(p.y + moves[e.key][1] * step, L.y_range) };
  showPoint(state.pinned);
});

// ---- manifold ----------------------------------------------------------------------------------------------

function tileAt(i, j) {
  const L = state.latent, n = state.gridN;
  const w = (L.x_range[1] - L.x_range[0]) / n, h = (L.y_range[1] - L.y_range[0]) / n;
  const x0 = L.x_range[0] + j * w, y1 = L.y_range[1] - i * h;
  return { i, j, x0, x1: x0 + w, y0: y1 - h, y1 };
}

function drawManifoldOverlay() {
  const c = $("manifold-overlay"), img = $("manifold");
  const w = img.clientWidth, h = img.clientHeight;
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const p = state.pointer || state.pinned;
  if (!state.latent || !(p || state.tile)) return;
  const L = state.latent, n = state.gridN;
  let { i, j } = state.tile || {};
  if (!state.tile) {
    j = Math.min(n - 1, Math.max(0, Math.floor((p.x - L.x_range[0]) / (L.x_range[1] - L.x_range[0]) * n)));
    i = Math.min(n - 1, Math.max(0, Math.floor((L.y_range[1] - p.y) / (L.y_range[1] - L.y_range[0]) * n)));
  }
  ctx.strokeStyle = "#1a73e8";
  ctx.lineWidth = 2;
  ctx.strokeRect(j * w / n + 1, i * h / n + 1, w / n - 2, h / n - 2);
}

$("manifold").addEventListener("pointermove", (e) => {
  if (!state.latent) return;
  const rect = e.target.getBoundingClientRect(), n = state.gridN;
  const j = Math.min(n - 1, Math.floor((e.clientX - rect.left) / rect.width * n));
  const i = Math.min(n - 1, Math.floor((e.clientY - rect.top) / rect.height * n));
  state.tile = tileAt(i, j);
  const cx = (state.tile.x0 + state.tile.x1) / 2, cy = (state.tile.y0 + state.tile.y1) / 2;
  $("manifold-coords").textContent = `tile (${i + 1}, ${j + 1}) at (${cx.toFixed(2)}, ${cy.toFixed(2)})`;
  requestDraw();
});
$("manifold").addEventListener("pointerleave", () => { state.tile = null; $("manifold-coords").textContent = ""; requestDraw(); });
$("grid-n").addEventListener("change", (e) => { state.gridN = Number(e.target.value); loadManifold(); });

function loadManifold() {
  $("manifold").src = `/api/runs/${encodeURIComponent(state.run.id)}/manifold?n=${state.gridN}`;
}
$("manifold").addEventListener("load", requestDraw);

// ---- try an image ------------------------------------------------------------------------------------------

const draw = { canvas: $("draw"), down: false, last: null, timer: 0 };

function clearDrawing() {
  const ctx = draw.canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, draw.canvas.width, draw.canvas.height);
}

function drawPos(e) {
  const rect = draw.canvas.getBoundingClientRect();
  return [(e.clientX - rect.left) * draw.canvas.width / rect.width, (e.clientY - rect.top) * draw.canvas.height / rect.height];
}

function stroke(from, to) {
  const ctx = draw.canvas.getContext("2d");
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 20;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

draw.canvas.addEventListener("pointerdown", (e) => {
  draw.canvas.setPointerCapture(e.pointerId);
  draw.down = true;
  draw.last = drawPos(e);
  stroke(draw.last, draw.last);
  clearTimeout(draw.timer);
});
draw.canvas.addEventListener("pointermove", (e) => {
  if (!draw.down) return;
  const p = drawPos(e);
  stroke(draw.last, p);
  draw.last = p;
});
for (const ev of ["pointerup", "pointercancel"]) {
  draw.canvas.addEventListener(ev, () => {
    if (!draw.down) return;
    draw.down = false;
    // A short pause lets a second stroke (the bar of a 7) join before the image is sent.
    clearTimeout(draw.timer);
    draw.timer = setTimeout(() => draw.canvas.toBlob((blob) => tryImage(blob, "drawing.png")), 250);
  });
}
$("clear").addEventListener("click", () => {
  clearDrawing();
  state.mine = null;
  state.lastUpload = null;
  for (const id of ["try-input", "try-recon"]) $(id).removeAttribute("src");
  setVerdict("empty", "Draw or upload an image.");
  $("try-position").textContent = "";
  requestDraw();
});
$("upload").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) tryImage(file, file.name);
  e.target.value = "";
});

function setVerdict(kind, text, detail) {
  const el = $("verdict");
  el.dataset.state = kind;
  el.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = text;
  el.append(strong);
  if (detail) {
    const span = document.createElement("span");
    span.textContent = detail;
    el.append(span);
  }
}

async function tryImage(blob, name) {
  if (!state.run) return;
  state.lastUpload = { blob, name };
  const token = state.token, base = `/api/runs/${encodeURIComponent(state.run.id)}`;
  const form = () => { const f = new FormData(); f.append("file", blob, name); return f; };
  setVerdict("busy", "Checking…");
  const [recon, detect] = await Promise.allSettled([
    api(`${base}/reconstruct`, { method: "POST", body: form() }).then((r) => r.json()),
    api(`${base}/detect`, { method: "POST", body: form() }).then((r) => r.json()),
  ]);
  if (token !== state.token) return;
  if (recon.status === "rejected") {
    setVerdict("error", "Could not use this image", recon.reason.message);
    return;
  }
  const r = recon.value;
  $("try-input").src = r.input;
  $("try-recon").src = r.reconstruction;
  state.mine = r.position;
  const where = state.latent.plane === "pca" ? "projected on (PC1, PC2)" : "on the latent plane";
  $("try-position").textContent = `Position ${where}: (${r.position.map((v) => v.toFixed(2)).join(", ")}), ` +
    `marked ◆. Reconstruction error (MSE): ${fmt(r.error, 4)}.`;
  if (detect.status === "rejected") {
    setVerdict("error", "Membership check unavailable", detect.reason.message);
  } else {
    const d = detect.value;
    setVerdict(d.member ? "in" : "out", d.member ? "Part of the data set" : "Not part of the data set",
      `score ${fmt(d.score)} ${d.member ? "≥" : "<"} threshold ${fmt(d.threshold)} (higher is more typical)`);
  }
  requestDraw();
}

// ---- denoise ------------------------------------------------------------------------------------------------

const fetchDenoise = latestOnly(async ({ index, noise, seed, token }) => {
  const r = await api(`/api/runs/${encodeURIComponent(state.run.id)}/denoise?index=${index}&noise=${noise}&seed=${seed}`);
  const d = await r.json();
  if (token !== state.token) return;
  $("dn-clean").src = d.clean;
  $("dn-noisy").src = d.noisy;
  $("dn-output").src = d.output;
  $("index-out").textContent = `#${d.index}${d.label ? ` · class ${d.label}` : ""}`;
  $("dn-noisy-cap").textContent = `noisy (${d.kind} ${Number(d.noise).toFixed(2)}) · MSE ${fmt(d.mse_noisy, 4)}`;
  $("dn-output-cap").textContent = `${d.denoising ? "denoised" : "autoencoder output"} · MSE ${fmt(d.mse_output, 4)}`;
});

function updateDenoise() {
  if (!state.run || !state.run.n_test) return;
  const noise = Number($("noise").value);
  $("noise-out").textContent = noise.toFixed(2);
  fetchDenoise({ index: Number($("index").value), noise, seed: state.seed, token: state.token });
}

function stepIndex(delta) {
  const el = $("index"), n = Number(el.max) + 1;
  el.value = String((Number(el.value) + delta + n) % n);
  updateDenoise();
}
$("index").addEventListener("input", updateDenoise);
$("noise").addEventListener("input", updateDenoise);
$("prev").addEventListener("click", () => stepIndex(-1));
$("next").addEventListener("click", () => stepIndex(1));
$("reseed").addEventListener("click", () => { state.seed += 1; updateDenoise(); });

// ---- runs ------------------------------------------------------------------------------------------------------

function describe(run) {
  const parts = [run.variational ? "VAE" : `${run.kind} autoencoder`, `${run.latent_dim}-D latent`, run.dataset];
  if (run.denoising) parts.push(`denoising (${run.noise.kind} ${run.noise.factor})`);
  if (run.epochs_done) parts.push(`${run.epochs_done} epoch${run.epochs_done === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

function showRunTables(run) {
  const m = run.metrics;
  tableRows($("metrics"), Object.entries(m.values).map(([k, v]) => [k, fmt(v, 4)]));
  $("metrics-source").textContent = { "metrics.json": "from metrics.json", history: "final epoch of the training history",
                                     none: "no metrics recorded" }[m.source] || "";
  tableRows($("data"), [["dataset", run.dataset], ["source", run.data_source || "–"],
    ["bundled sample", run.is_sample ? "yes" : "no"], ["test images", String(run.n_test)],
    ["classes", run.classes.join(", ") || "–"]]);
  $("config").replaceChildren(...flatten(run.config).map(([k, v]) => {
    const div = document.createElement("div"), dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    div.append(dt, dd);
    return div;
  }));
}

function planeNote(L, run) {
  if (run.data_error) return run.data_error;
  const shown = `${L.points.length.toLocaleString()} of ${L.n_test.toLocaleString()} test images`;
  if (L.plane === "pca") {
    const share = L.explained.map((e) => `${Math.round(e * 100)}%`).join(" + ");
    return `${shown}, projected from the ${L.latent_dim}-D codes onto their first two principal components ` +
      `(${share} of the variance). A point (a, b) is decoded from mean + a·PC1 + b·PC2: the other ` +
      `${L.latent_dim - 2} directions stay at the data's mean.`;
  }
  const what = run.variational ? "Posterior means" : "Codes";
  const one = L.latent_dim === 1 ? " The latent is 1-D: only the horizontal axis matters." : "";
  return `${what} of ${shown}, coloured by class. Move over the plane to decode any point; click to pin one.${one}`;
}

async function selectRun(id) {
  const run = state.runs.find((r) => r.id === id) || state.runs[0];
  state.run = run;
  state.token += 1;
  const token = state.token;
  Object.assign(state, { latent: null, net: null, pointer: null, pinned: null, tile: null, mine: null });
  document.body.dataset.ready = "";
  $("run-line").textContent = describe(run);
  showRunTables(run);
  const base = `/api/runs/${encodeURIComponent(run.id)}`;
  const latent = await (await api(`${base}/latent`)).json();
  let net = null;
  if (run.decoder === "browser" && params.get("decoder") !== "server") {
    net = loadNet(await (await api(`${base}/decoder`)).json());
  }
  if (token !== state.token) return;
  state.latent = latent;
  state.net = net;
  $("plane-note").textContent = planeNote(latent, run);
  $("decode-mode").textContent = net ? "decoded in your browser" : "decoded by the server";
  drawLegend();
  resizePlane();
  state.pinned = { x: (latent.x_range[0] + latent.x_range[1]) / 2, y: (latent.y_range[0] + latent.y_range[1]) / 2 };
  showPoint(state.pinned);
  loadManifold();
  $("denoise-note").textContent = run.denoising
    ? `This run was trained to remove ${run.noise.kind} noise (level ${run.noise.factor}). Pick a test image and a noise level.`
    : "This run was not trained to denoise: the output is what the plain autoencoder makes of the noisy input (Gaussian noise).";
  $("index").max = String(Math.max(0, run.n_test - 1));
  $("index").value = "0";
  updateDenoise();
  if (state.lastUpload) tryImage(state.lastUpload.blob, state.lastUpload.name);
  document.body.dataset.ready = "1";
}

async function start() {
  clearDrawing();
  try {
    state.runs = await (await api("/api/runs")).json();
    const picker = $("run-picker");
    picker.replaceChildren(...state.runs.map((r) => new Option(`${r.id} (${r.variational ? "vae" : r.kind}, ${r.latent_dim}-D)`, r.id)));
    $("picker-label").hidden = state.runs.length < 2;
    picker.addEventListener("change", () => selectRun(picker.value).catch((e) => showStatus(e.message)));
    const wanted = params.get("run");
    if (wanted && state.runs.some((r) => r.id === wanted)) picker.value = wanted;
    await selectRun(picker.value);
  } catch (e) {
    showStatus(`Could not load the runs: ${e.message}`);
  }
}

window.addEventListener("resize", () => { if (state.latent) resizePlane(); });
start();
