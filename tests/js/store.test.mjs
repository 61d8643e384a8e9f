import assert from "node:assert/strict";
import { test } from "node:test";

import { createStore } from "../../src/latentlab/web/static/js/store.js";

test("set notifies only of real changes, with the changed keys", () => {
  const store = createStore({ a: 1, b: null });
  const heard = [];
  store.subscribe((s, changed) => heard.push([{ ...s }, changed]));
  store.set({ a: 1 });
  store.set({ a: 2, b: null });
  store.set({ b: "x" });
  assert.deepEqual(heard, [[{ a: 2, b: null }, ["a"]], [{ a: 2, b: "x" }, ["b"]]]);
});

test("subscribe with keys filters; unsubscribe stops; the state is read-only", () => {
  const store = createStore({ point: null, tile: null });
  let calls = 0;
  const stop = store.subscribe(() => { calls += 1; }, ["tile"]);
  store.set({ point: { x: 1, y: 2 } });
  store.set({ tile: { i: 0, j: 0 } });
  stop();
  store.set({ tile: null });
  assert.equal(calls, 1);
  assert.throws(() => { "use strict"; store.get().point = null; }, TypeError);
});
