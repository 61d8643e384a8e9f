import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import * as api from "../../src/latentlab/web/static/js/api.js";

const realFetch = globalThis.fetch;
afterEach(() => { globalThis.fetch = realFetch; });

// A fetch that answers every request with `answer` and records the URLs and options.
function fakeFetch(answer) {
  const calls = [];
  globalThis.fetch = async (url, options) => { calls.push([url, options]); return answer(); };
  return calls;
}

test("errorText takes the server's detail, else the status text", () => {
  assert.equal(api.errorText(404, "Not Found", { detail: "unknown run 'x'" }), "404: unknown run 'x'");
  assert.equal(api.errorText(422, "Unprocessable", { detail: [{ msg: "too big" }, { msg: "not a number" }] }),
               "422: too big; not a number");
  assert.equal(api.errorText(502, "Bad Gateway", null), "502: Bad Gateway");
  assert.equal(api.errorText(500, "", {}), "500: request failed");
});

test("a failed request throws the server's detail; a non-JSON body falls back to the status", async () => {
  fakeFetch(() => new Response(JSON.stringify({ detail: "x=99 is outside the plane" }), { status: 422 }));
  await assert.rejects(api.decodePng("r", { x: 99, y: 0 }), { message: "422: x=99 is outside the plane" });
  fakeFetch(() => new Response("<html>", { status: 503, statusText: "Service Unavailable" }));
  await assert.rejects(api.listRuns(), { message: "503: Service Unavailable" });
});

test("requests go to the run's endpoints with the id escaped and the parameters in the query", async () => {
  const calls = fakeFetch(() => new Response("{}"));
  await api.latent("a b/c");
  await api.denoise("r", { index: 3, noise: 0.25, seed: 1 });
  await api.reconstruct("r", new Blob(["png"]), "drawing.png");
  assert.deepEqual(calls.map(([url]) => url),
    ["/api/runs/a%20b%2Fc/latent", "/api/runs/r/denoise?index=3&noise=0.25&seed=1", "/api/runs/r/reconstruct"]);
  const [, options] = calls[2];
  assert.equal(options.method, "POST");
  assert.equal(options.body.get("file").name, "drawing.png");
  assert.equal(api.manifoldUrl("r", 15), "/api/runs/r/manifold?n=15");
});

test("latestOnly keeps one call in flight and runs only the newest waiting argument", async () => {
  const started = [], release = [];
  const call = api.latestOnly((arg) => new Promise((resolve) => { started.push(arg); release.push(resolve); }),
                              (e) => { throw e; });
  call(1);
  call(2);
  call(3);
  assert.deepEqual(started, [1]);  // 2 was replaced by 3 while 1 ran
  release.shift()();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [1, 3]);
  release.shift()();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [1, 3]);
});

test("latestOnly hands errors to onError and carries on", async () => {
  const errors = [], done = [];
  const call = api.latestOnly(async (arg) => { if (arg === "bad") throw new Error("boom"); done.push(arg); },
                              (e) => errors.push(e.message));
  call("bad");
  await new Promise((r) => setTimeout(r, 0));
  call("good");
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual([errors, done], [["boom"], ["good"]]);
});
