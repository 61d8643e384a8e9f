import assert from "node:assert/strict";
import { test } from "node:test";

import { inputSource, neighbourCaption, verdictOf } from "../../src/latentlab/web/static/js/try-image.js";

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

test("verdictOf: the verdict code of the detect answer decides the box", () => {
  const d = { score: 1.25, threshold: 0.75, verdict: "in", verdict_text: "like the training data", objects: 1 };
  assert.deepEqual(verdictOf(d), ["in", "Part of the data set", "score 1.250 ≥ threshold 0.750 (higher is more typical)"]);
  assert.equal(verdictOf({ ...d, score: 0.5, verdict: "out" })[1], "Not part of the data set");
  const row = { ...d, verdict: "several objects", objects: 3, verdict_text: "not one object: 3 separate objects" };
  assert.deepEqual(verdictOf(row), ["out", "Not one object",
    "not one object: 3 separate objects; its score 1.250 says nothing about one object"]);
  assert.equal(verdictOf({ ...d, verdict: "blank", verdict_text: "blank image" })[1], "Blank image");
});
