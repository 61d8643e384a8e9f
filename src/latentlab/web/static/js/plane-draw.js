// Drawing the latent plane on 2-D canvas contexts: the scatter of test codes with its axes (drawn into an
// offscreen canvas when the run or the highlighted class changes) and the markers drawn over it on every
// pointer move. No element look-ups: the panel hands in the context and the mapping.

import { axisNames, fmt } from "./format.js";
import { niceStep, ticks } from "./plane.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"];

// A class's colour; unlabelled points (-1) are grey.
export function colour(label) {
  return label < 0 ? "#9aa0a6" : PALETTE[label % PALETTE.length];
}

function drawAxes(ctx, map, latent) {
  const { left: l, top: t, side: P } = map;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5f6368";
  ctx.strokeStyle = "#e6e8eb";
  ctx.lineWidth = 1;
  // Both axes share one scale (the server makes the ranges equal), so one step serves both.
  const step = niceStep(latent.x_range[1] - latent.x_range[0]);
  for (const v of ticks(...latent.x_range, step)) {
    const [px] = map.toPx(v, latent.y_range[0]);
    ctx.beginPath(); ctx.moveTo(px, t); ctx.lineTo(px, t + P); ctx.stroke();
    ctx.textAlign = "center";
    ctx.fillText(fmt(v, step < 1 ? 1 : 0), px, t + P + 14);
  }
  for (const v of ticks(...latent.y_range, step)) {
    const [, py] = map.toPx(latent.x_range[0], v);
    ctx.beginPath(); ctx.moveTo(l, py); ctx.lineTo(l + P, py); ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(fmt(v, step < 1 ? 1 : 0), l - 5, py + 4);
  }
  const names = axisNames(latent);
  ctx.textAlign = "center";
  ctx.fillText(names[0], l + P / 2, t + P + 27);
  ctx.save();
  ctx.translate(11, t + P / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(names[1], 0, 0);
  ctx.restore();
  ctx.strokeStyle = "#c9cdd2";
  ctx.strokeRect(l + 0.5, t + 0.5, P - 1, P - 1);
}

// The plot background, axes and one dot per test code; `focus` >= 0 dims every other class.
export function drawScatter(ctx, map, latent, focus) {
  const { left: l, top: t, side: P } = map;
  ctx.fillStyle = "#fbfbfc";
  ctx.fillRect(l, t, P, P);
  drawAxes(ctx, map, latent);
  ctx.save();
  ctx.beginPath();
  ctx.rect(l, t, P, P);
  ctx.clip();
  const r = latent.points.length > 2000 ? 1.8 : 2.6;
  latent.points.forEach(([x, y], i) => {
    const label = latent.labels[i];
    ctx.globalAlpha = focus < 0 ? 0.7 : (label === focus ? 0.95 : 0.08);
    ctx.fillStyle = colour(label);
    const [px, py] = map.toPx(x, y);
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    ctx.fill();
  });
  ctx.restore();
}

function drawTile(ctx, map, tile) {
  const [x0, y0] = map.toPx(tile.x0, tile.y1), [x1, y1] = map.toPx(tile.x1, tile.y0);
  ctx.fillStyle = "rgba(26, 115, 232, 0.15)";
  ctx.strokeStyle = "#1a73e8";
  ctx.lineWidth = 2;
  ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
}

function drawDiamond(ctx, map, [x, y]) {
  const [px, py] = map.toPx(x, y);
  ctx.beginPath();
  ctx.moveTo(px, py - 9); ctx.lineTo(px + 9, py); ctx.lineTo(px, py + 9); ctx.lineTo(px - 9, py);
  ctx.closePath();
  ctx.fillStyle = "#fff";
  ctx.fill();
  ctx.lineWidth = 2.5;
  ctx.strokeStyle = "#202124";
  ctx.stroke();
}

function drawCrosshair(ctx, map, p, style) {
  const [px, py] = map.toPx(p.x, p.y);
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

// The manifold tile under the pointer, the tried image (◆), the pinned point and the pointer's.
export function drawMarkers(ctx, map, { tile, mine, pinned, pointer }) {
  if (tile) drawTile(ctx, map, tile);
  if (mine) drawDiamond(ctx, map, mine);
  if (pinned) drawCrosshair(ctx, map, pinned, "#5f6368");
  if (pointer) drawCrosshair(ctx, map, pointer, "#202124");
}
