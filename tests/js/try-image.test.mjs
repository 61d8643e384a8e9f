import assert from "node:assert/strict";
import { test } from "node:test";

import { inputSource, neighbourCaption } from "../../src/latentlab/web/static/js/try-image.js";

test("neighbourCaption: the class name, else the label, then the distance", () => {
  assert.equal(neighbourCaption({ label_name: "7", label: 7, distance: 3.214 }), "7 · d 3.21");
  assert.equal(neighbourCaption({ label: 2, distance: 1 }), "2 · d 1");
  assert.equal(neighbourCaption({ label: null, distance: 0.5 }), "d 0.50");
});

test("inputSource: the map only when asked for and there is one", () => {
  assert.equal(inputSource({ input: "a", map: "m" }, true), "m");
  assert.equal(inputSource({ input: "a", map: "m" }, false), "a");
  assert.equal(inputSource({ input: "a", map: null }, true), "a");
});
