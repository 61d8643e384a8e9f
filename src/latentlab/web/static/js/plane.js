// Geometry of the latent plane, pure: plane points (x right, y up) <-> canvas pixels (y down), axis ticks,
// and the manifold's n x n grid. `ranges` is anything with x_range and y_range, such as the /latent answer.

// Room left around the square plot for the axis labels, in CSS pixels.
export const PAD = { l: 40, r: 10, t: 10, b: 30 };

export function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

// The mapping for a size x size canvas: the plot is the largest square inside the padding.
export function planeMap(ranges, size, pad = PAD) {
  const side = Math.min(size - pad.l - pad.r, size - pad.t - pad.b);
  const [x0, x1] = ranges.x_range, [y0, y1] = ranges.y_range;
  return {
    left: pad.l, top: pad.t, side,
    toPx: (x, y) => [pad.l + (x - x0) / (x1 - x0) * side, pad.t + (y1 - y) / (y1 - y0) * side],
    // Pixels outside the plot land on its edge: the pointer may stray into the padding.
    fromPx: (px, py) => {
      const u = clamp((px - pad.l) / side, 0, 1), v = clamp((py - pad.t) / side, 0, 1);
      return { x: x0 + u * (x1 - x0), y: y1 - v * (y1 - y0) };
    },
  };
}

// A round tick spacing (1, 2 or 5 times a power of ten) giving about five ticks over `span`.
export function niceStep(span) {
  const raw = span / 5, mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
}

// The multiples of `step` within [lo, hi], computed as k*step so that labels carry no rounding residue.
export function ticks(lo, hi, step) {
  const out = [];
  for (let k = Math.ceil(lo / step); k * step <= hi; k++) out.push(k * step);
  return out;
}

export function centreOf(ranges) {
  return { x: (ranges.x_range[0] + ranges.x_range[1]) / 2, y: (ranges.y_range[0] + ranges.y_range[1]) / 2 };
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

// The point one arrow-key step (1/50 of the width) from `p`, kept on the plane; null for other keys.
export function nudge(ranges, p, key) {
  const move = ARROWS[key];
  if (!move) return null;
  const step = (ranges.x_range[1] - ranges.x_range[0]) / 50;
  return { x: clamp(p.x + move[0] * step, ...ranges.x_range), y: clamp(p.y + move[1] * step, ...ranges.y_range) };
}

// Tile (i, j) of the n x n grid, row i from the top (high y) down, column j from the left: its bounds.
export function gridTile(ranges, n, i, j) {
  const w = (ranges.x_range[1] - ranges.x_range[0]) / n, h = (ranges.y_range[1] - ranges.y_range[0]) / n;
  const x0 = ranges.x_range[0] + j * w, y1 = ranges.y_range[1] - i * h;
  return { i, j, x0, x1: x0 + w, y0: y1 - h, y1 };
}

export function tileCentre(tile) {
  return { x: (tile.x0 + tile.x1) / 2, y: (tile.y0 + tile.y1) / 2 };
}

// The centres of all n*n tiles in the server's order (Plane.grid: row by row from the top).
export function gridCentres(ranges, n) {
  const out = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out.push(tileCentre(gridTile(ranges, n, i, j)));
  return out;
}

// The tile holding plane point p (points off the plane count for the nearest edge tile).
export function tileOfPoint(ranges, n, p) {
  const fx = (p.x - ranges.x_range[0]) / (ranges.x_range[1] - ranges.x_range[0]);
  const fy = (ranges.y_range[1] - p.y) / (ranges.y_range[1] - ranges.y_range[0]);
  return tileOfFraction(n, fx, fy);
}

// The tile under a position given as fractions of the grid image's width and height.
export function tileOfFraction(n, fx, fy) {
  return { i: clamp(Math.floor(fy * n), 0, n - 1), j: clamp(Math.floor(fx * n), 0, n - 1) };
}
