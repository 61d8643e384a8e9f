// Every request the page makes. Failed requests throw an Error whose message is the server's own
// explanation (the JSON `detail`), so the page can show it as it is.

// "status: detail" from an error answer's JSON body (null when it was not JSON).
export function errorText(status, statusText, body) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return `${status}: ${detail}`;
  // FastAPI's own validation errors are a list of {loc, msg}.
  if (Array.isArray(detail) && detail.length) return `${status}: ${detail.map((d) => d.msg || String(d)).join("; ")}`;
  return `${status}: ${statusText || "request failed"}`;
}

export async function request(path, options) {
  const r = await fetch(path, options);
  if (r.ok) return r;
  let body = null;
  try { body = await r.json(); } catch { /* not JSON: the status text says it */ }
  throw new Error(errorText(r.status, r.statusText, body));
}

const getJSON = async (path, options) => (await request(path, options)).json();
const runPath = (id, tail, params) => `/api/runs/${encodeURIComponent(id)}/${tail}` +
  (params ? `?${new URLSearchParams(params)}` : "");

function upload(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  return { method: "POST", body: form };
}

export const listRuns = () => getJSON("/api/runs");
export const latent = (id) => getJSON(runPath(id, "latent"));
export const decoderWeights = (id) => getJSON(runPath(id, "decoder"));
export const decodePng = async (id, p) => (await request(runPath(id, "decode", { x: p.x, y: p.y }))).blob();
export const manifoldUrl = (id, n) => runPath(id, "manifold", { n });
export const denoise = (id, { index, noise, seed }) => getJSON(runPath(id, "denoise", { index, noise, seed }));
// An upload is a stream: each request gets its own form.
export const reconstruct = (id, blob, name) => getJSON(runPath(id, "reconstruct"), upload(blob, name));
export const detect = (id, blob, name) => getJSON(runPath(id, "detect"), upload(blob, name));

// Calls fn(arg) with at most one call in flight; while one runs, only the newest waiting arg is kept.
// Errors go to onError: a dropped pointer position is no reason to stop the next one.
export function latestOnly(fn, onError) {
  let running = false, waiting = null;
  async function pump() {
    if (running || waiting === null) return;
    const { arg } = waiting;
    waiting = null;
    running = true;
    try { await fn(arg); } catch (e) { onError(e); }
    running = false;
    pump();
  }
  return (arg) => { waiting = { arg }; pump(); };
}
