import assert from "node:assert/strict";
import { test } from "node:test";

import {
  base64Floats, decodePoint, forward, greyRGBA, loadNet, planeCode,
} from "../../src/latentlab/web/static/js/decoder.js";

const b64 = (values) => Buffer.from(new Float32Array(values).buffer).toString("base64");
const close = (a, b, eps = 1e-6) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("base64Floats reads little-endian float32 bytes", () => {
  assert.deepEqual(Array.from(base64Floats("AACAPwAAAEA=")), [1, 2]);  // 0x3f800000, 0x40000000
  assert.deepEqual(Array.from(base64Floats(b64([-0.5, 3.25, 0]))), [-0.5, 3.25, 0]);
});

// A hand-made decoder: 3-D code -> 2 hidden units (ReLU) -> 4 outputs (sigmoid), as /decoder sends it.
const exported = {
  layers: [
    { in: 3, out: 2, weight: b64([1, -1, 0.5, /* row 2 */ -2, 0, 1]), bias: b64([0.25, -0.5]) },
    { in: 2, out: 4, weight: b64([1, 0, /**/ 0, 1, /**/ -1, 2, /**/ 0.5, 0.5]), bias: b64([0, 0, 0, -1]) },
  ],
  activation: "relu", output: "sigmoid", layout: "row-major (out, in)",
};
const basis = { mean: [0.5, 0, -1], axes: [[1, 0, 0], [0, 2, 1]] };

test("planeCode: mean + x*axis1 + y*axis2", () => {
  assert.deepEqual(Array.from(planeCode(basis, { x: 1, y: 0.5 })), [1.5, 1, -0.5]);
});

test("decodePoint equals the network worked out by hand", () => {
  const net = loadNet(exported);
  assert.deepEqual(net.map((l) => [l.nIn, l.nOut]), [[3, 2], [2, 4]]);
  // code (1.5, 1, -0.5): hidden = relu(1.5 - 1 - 0.25 + 0.25, -3 + 0 - 0.5 - 0.5) = (0.5, 0)
  const sig = (s) => 1 / (1 + Math.exp(-s));
  const expected = [sig(0.5), sig(0), sig(-0.5), sig(0.25 - 1)];
  const out = decodePoint(net, basis, { x: 1, y: 0.5 });
  assert.equal(out.length, 4);
  expected.forEach((e, i) => close(out[i], e));
  // Pinned: the same four values as numbers, so a change of formula cannot hide behind the reference.
  [0.6224593, 0.5, 0.3775407, 0.3208213].forEach((e, i) => close(out[i], e));
});

test("forward: a 28x28 output from a one-layer decoder is a sigmoid per pixel", () => {
  const n = 784, w = Array.from({ length: n * 2 }, (_, k) => (k % 2 ? 0 : (k / 2) / n - 0.5));
  const net = loadNet({ layers: [{ in: 2, out: n, weight: b64(w), bias: b64(new Array(n).fill(0)) }] });
  const out = forward(net, Float32Array.of(4, 123));  // the second input has zero weights everywhere
  assert.equal(out.length, 28 * 28);
  close(out[0], 1 / (1 + Math.exp(2)));
  close(out[392], 0.5);
  assert.ok(out.every((v, i) => i === 0 || v >= out[i - 1]), "pixels grow with their weight");
});

test("greyRGBA: opaque grey bytes, rounded", () => {
  assert.deepEqual(Array.from(greyRGBA([0, 1, 0.5, 0.2])),
    [0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255, 51, 51, 51, 255]);
});

test("imageRGBA: one channel is grey, three are planar red, green, blue", async () => {
  const { imageRGBA } = await import("../../src/latentlab/web/static/js/decoder.js");
  assert.deepEqual(Array.from(imageRGBA([0, 1], [1, 1, 2])), [0, 0, 0, 255, 255, 255, 255, 255]);
  // A 1x2 colour image: planes R = (1, 0), G = (0, 0.5), B = (0.2, 1), as torch's (C, H, W) flattens.
  assert.deepEqual(Array.from(imageRGBA([1, 0, 0, 0.5, 0.2, 1], [3, 1, 2])),
    [255, 0, 51, 255, 0, 128, 255, 255]);
});
