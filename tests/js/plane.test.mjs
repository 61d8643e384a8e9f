import assert from "node:assert/strict";
import { test } from "node:test";

import {
  centreOf, gridCentres, gridTile, niceStep, nudge, PAD, planeMap, tileCentre, tileOfFraction, tileOfPoint, ticks,
} from "../../src/latentlab/web/static/js/plane.js";

const ranges = { x_range: [-3, 5], y_range: [-2, 6] };
const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("planeMap: the plot is the largest square inside the padding", () => {
  const m = planeMap(ranges, 440);
  assert.equal(m.side, Math.min(440 - PAD.l - PAD.r, 440 - PAD.t - PAD.b));
  assert.deepEqual(m.toPx(-3, 6), [PAD.l, PAD.t]);  // top-left corner: low x, high y
  assert.deepEqual(m.toPx(5, -2), [PAD.l + m.side, PAD.t + m.side]);
});

test("planeMap: plane -> pixel -> plane round-trips, and pixels off the plot clamp to its edge", () => {
  const m = planeMap(ranges, 440);
  for (const [x, y] of [[0, 0], [-3, -2], [5, 6], [1.234, -1.5], [4.9, 5.99]]) {
    const p = m.fromPx(...m.toPx(x, y));
    close(p.x, x);
    close(p.y, y);
  }
  assert.deepEqual(m.fromPx(0, 0), { x: -3, y: 6 });
  assert.deepEqual(m.fromPx(10_000, 10_000), { x: 5, y: -2 });
});

test("niceStep and ticks: round spacing, about five ticks, exact multiples", () => {
  assert.equal(niceStep(8), 2);
  assert.equal(niceStep(10), 2);
  assert.equal(niceStep(3), 1);
  assert.equal(niceStep(1.2), 0.5);
  assert.deepEqual(ticks(-3, 5, 2), [-2, 0, 2, 4]);
  assert.deepEqual(ticks(-1.2, 1.2, 0.5), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(ticks(0, 4, 2), [0, 2, 4]);
});

test("gridTile and gridCentres match the server's Plane.grid: rows from the top, columns from the left", () => {
  const n = 4;  // tiles 2 wide, 2 high
  assert.deepEqual(gridTile(ranges, n, 0, 0), { i: 0, j: 0, x0: -3, x1: -1, y0: 4, y1: 6 });
  assert.deepEqual(gridTile(ranges, n, 3, 3), { i: 3, j: 3, x0: 3, x1: 5, y0: -2, y1: 0 });
  const centres = gridCentres(ranges, n);
  assert.equal(centres.length, 16);
  // numpy: xs = x0 + (arange(n) + 0.5) * w, ys = y1 - (arange(n) + 0.5) * h, meshgrid(xs, ys) row by row.
  const xs = [-2, 0, 2, 4], ys = [5, 3, 1, -1];
  ys.forEach((y, i) => xs.forEach((x, j) => assert.deepEqual(centres[i * n + j], { x, y })));
  assert.deepEqual(tileCentre(gridTile(ranges, n, 1, 2)), { x: 2, y: 3 });
});

test("tileOfPoint and tileOfFraction: the tile under a point, the edge tiles for points beyond", () => {
  assert.deepEqual(tileOfPoint(ranges, 4, { x: 2, y: 3 }), { i: 1, j: 2 });
  assert.deepEqual(tileOfPoint(ranges, 4, { x: 5, y: -2 }), { i: 3, j: 3 });  // the far corner belongs to the last
  assert.deepEqual(tileOfPoint(ranges, 4, { x: -99, y: 99 }), { i: 0, j: 0 });
  assert.deepEqual(tileOfFraction(15, 0.5, 0.999), { i: 14, j: 7 });
  assert.deepEqual(tileOfFraction(15, 1, 0), { i: 0, j: 14 });
  for (const t of gridCentres(ranges, 5).map((c) => tileOfPoint(ranges, 5, c)).entries()) {
    assert.deepEqual(t[1], { i: Math.floor(t[0] / 5), j: t[0] % 5 });  // every centre lies in its own tile
  }
});

test("centreOf and nudge: arrow keys move 1/50 of the width and stay on the plane", () => {
  assert.deepEqual(centreOf(ranges), { x: 1, y: 2 });
  assert.deepEqual(nudge(ranges, { x: 1, y: 2 }, "ArrowRight"), { x: 1.16, y: 2 });
  assert.deepEqual(nudge(ranges, { x: 1, y: 2 }, "ArrowDown"), { x: 1, y: 1.84 });
  assert.deepEqual(nudge(ranges, { x: 5, y: 6 }, "ArrowUp"), { x: 5, y: 6 });
  assert.equal(nudge(ranges, { x: 0, y: 0 }, "Enter"), null);
});
