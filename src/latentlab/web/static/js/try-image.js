// The "Try an image" panel: draw on the canvas or upload a file; the server reconstructs it, places it on
// the plane (published as `mine` in the store) and says whether it looks like part of the data set.

import * as api from "./api.js";
import { byId, el } from "./dom.js";
import { fmt } from "./format.js";

// The verdict box: a state for its colour (empty, busy, in, out, error), a headline and an optional detail.
function setVerdict(kind, text, detail) {
  const box = byId("verdict");
  box.dataset.state = kind;
  box.replaceChildren(el("strong", { text }), ...(detail ? [el("span", { text: detail })] : []));
}

function positionText(plane, r) {
  const where = plane === "pca" ? "projected on (PC1, PC2)" : "on the latent plane";
  return `Position ${where}: (${r.position.map((v) => v.toFixed(2)).join(", ")}), ` +
    `marked ◆. Reconstruction error (MSE): ${fmt(r.error, 4)}.`;
}

// What the panel says it does with an image, for the run's kind of images.
export function tryHint(run) {
  const [c, h, w] = run.image_shape;
  if (c === 1 && h === w) {
    return "Draw with the mouse (white on black, like MNIST) or upload a PNG or JPEG. Dark ink on light paper is " +
      "inverted; the image is cropped, scaled and centred like the training data.";
  }
  return `Upload a PNG or JPEG of any size: it is decoded and resized to the run's ${h}x${w} pixels ` +
    `(height x width, as --image-size)${c === 3 ? ", colour kept" : ", in grey"}. There is no drawing here: ` +
    "these images are not strokes on black.";
}

// The verdict box's state, headline and detail from the detect answer (the schema of `latentlab detect --json`:
// a verdict code, in, out, blank or several objects, and its sentence). Blank and several objects are said
// whatever the score: it says nothing about one object.
export function verdictOf(d) {
  if (d.verdict === "several objects" || d.verdict === "blank") {
    return ["out", d.verdict === "blank" ? "Blank image" : "Not one object",
            `${d.verdict_text}; its score ${fmt(d.score)} says nothing about one object`];
  }
  const member = d.verdict === "in";
  return [member ? "in" : "out", member ? "Part of the data set" : "Not part of the data set",
          `score ${fmt(d.score)} ${member ? "≥" : "<"} threshold ${fmt(d.threshold)} (higher is more typical)`];
}

// The caption under one nearest training image: its class (when known) and its distance in the detector's view.
export function neighbourCaption(n) {
  const name = n.label_name ?? (n.label === null || n.label === undefined ? "" : String(n.label));
  return `${name ? `${name} · ` : ""}d ${fmt(n.distance, 2)}`;
}

// Which picture the input box shows: the map over the input when the toggle is on and there is one.
export function inputSource(shown, wantMap) {
  return wantMap && shown.map ? shown.map : shown.input;
}

export function initTryImage({ store }) {
  const canvas = byId("draw"), ctx = canvas.getContext("2d");
  let down = false, last = null, timer = 0;
  let lastImage = null;  // the last image tried, checked again with the next run
  const shown = { input: null, map: null };  // the input as the model sees it, and the map over it
  const toggle = byId("try-map-toggle");

  function showInput() {
    const src = inputSource(shown, toggle.checked);
    if (src) byId("try-input").src = src;
  }

  function showNeighbours(explanation) {
    const box = byId("try-neighbours");
    const near = explanation ? explanation.neighbours : [];
    box.replaceChildren(...near.map((n) => {
      const img = el("img", { className: "pixels thumb-small" });
      img.src = n.image;
      img.alt = neighbourCaption(n);
      return el("figure", {}, img, el("figcaption", { text: neighbourCaption(n) }));
    }));
    if (near.length) box.prepend(el("span", { className: "hint", text: "Nearest training images:" }));
  }

  function clearDrawing() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }

  function canvasPos(e) {
    const rect = canvas.getBoundingClientRect();
    return [(e.clientX - rect.left) * canvas.width / rect.width, (e.clientY - rect.top) * canvas.height / rect.height];
  }

  function stroke(from, to) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  }

  async function check(blob, name) {
    lastImage = { blob, name };
    const view = store.get().view;
    if (!view) return;  // the run is still loading: show() checks the image once it is there
    setVerdict("busy", "Checking…");
    const id = view.run.id;
    // A run the detector cannot judge says why once, instead of asking the server each time.
    const unavailable = view.run.membership ? Promise.reject(new Error(view.run.membership)) : null;
    const [recon, detect] = await Promise.allSettled([api.reconstruct(id, blob, name),
                                                      unavailable || api.detect(id, blob, name)]);
    if (store.get().view !== view) return;  // the run changed meanwhile
    if (recon.status === "rejected") {
      setVerdict("error", "Could not use this image", recon.reason.message);
      return;
    }
    const r = recon.value;
    const explanation = detect.status === "fulfilled" ? detect.value.explanation : null;
    shown.input = r.input;
    shown.map = explanation ? explanation.map : null;
    showInput();
    showNeighbours(explanation);
    byId("try-recon").src = r.reconstruction;
    byId("try-position").textContent = positionText(view.latent.plane, r);
    if (detect.status === "rejected") setVerdict("error", "Membership check unavailable", detect.reason.message);
    else setVerdict(...verdictOf(detect.value));
    store.set({ mine: r.position });
  }

  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    down = true;
    last = canvasPos(e);
    stroke(last, last);
    clearTimeout(timer);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!down) return;
    const p = canvasPos(e);
    stroke(last, p);
    last = p;
  });
  for (const type of ["pointerup", "pointercancel"]) {
    canvas.addEventListener(type, () => {
      if (!down) return;
      down = false;
      // A short pause lets a second stroke (the bar of a 7) join before the image is sent.
      clearTimeout(timer);
      timer = setTimeout(() => canvas.toBlob((blob) => check(blob, "drawing.png")), 250);
    });
  }
  byId("clear").addEventListener("click", () => {
    clearDrawing();
    lastImage = null;
    for (const id of ["try-input", "try-recon"]) byId(id).removeAttribute("src");
    shown.input = shown.map = null;
    showNeighbours(null);
    setVerdict("empty", "Draw or upload an image.");
    byId("try-position").textContent = "";
    store.set({ mine: null });
  });
  byId("upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) check(file, file.name);
    e.target.value = "";  // choosing the same file again still fires "change"
  });
  toggle.addEventListener("change", showInput);
  clearDrawing();

  return {
    show(view) {
      byId("try-hint").textContent = tryHint(view.run);
      canvas.hidden = !view.run.draw;  // strokes on black only make sense for grey runs
      byId("clear").hidden = !view.run.draw;
      if (lastImage) check(lastImage.blob, lastImage.name);
    },
  };
}
