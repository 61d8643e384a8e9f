// A run's dense decoder evaluated in the page, so moving over the plane needs no request per point.
// Pure maths on typed arrays: the same sums as the server's torch model, to a grey level or so.

// The server sends each tensor as base64 of its float32 bytes, little-endian like every browser's CPU.
export function base64Floats(text) {
  const raw = atob(text), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

// /decoder's answer as layers of row-major (out, in) weights and biases.
export function loadNet(exported) {
  return exported.layers.map((l) => ({ nIn: l.in, nOut: l.out, w: base64Floats(l.weight), b: base64Floats(l.bias) }));
}

// The code a plane point stands for: mean + x*axis1 + y*axis2.
export function planeCode(basis, p) {
  const { mean, axes } = basis;
  return Float32Array.from(mean, (m, i) => m + p.x * axes[0][i] + p.y * axes[1][i]);
}

// Linear+ReLU layers, sigmoid after the last: the decoder's output pixels in [0, 1].
export function forward(net, code) {
  let h = code;
  net.forEach((layer, li) => {
    const out = new Float32Array(layer.nOut), last = li === net.length - 1;
    for (let o = 0; o < layer.nOut; o++) {
      let s = layer.b[o];
      const row = o * layer.nIn;
      for (let i = 0; i < layer.nIn; i++) s += layer.w[row + i] * h[i];
      out[o] = last ? 1 / (1 + Math.exp(-s)) : Math.max(0, s);
    }
    h = out;
  });
  return h;
}

export function decodePoint(net, basis, p) {
  return forward(net, planeCode(basis, p));
}

// The decoder's C*H*W outputs in [0, 1] (channel after channel, each row-major: torch's (C, H, W)) as opaque
// RGBA bytes for an ImageData of width W and height H. One channel is grey; three are red, green, blue.
export function imageRGBA(pixels, [c, h, w]) {
  if (c === 1) return greyRGBA(pixels);
  const plane = h * w, rgba = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    rgba.set([Math.round(pixels[i] * 255), Math.round(pixels[plane + i] * 255),
              Math.round(pixels[2 * plane + i] * 255), 255], i * 4);
  }
  return rgba;
}

// Pixels in [0, 1] as opaque grey RGBA bytes, ready for an ImageData of the same size.
export function greyRGBA(pixels) {
  const rgba = new Uint8ClampedArray(pixels.length * 4);
  for (let i = 0; i < pixels.length; i++) {
    const v = Math.round(pixels[i] * 255);
    rgba.set([v, v, v, 255], i * 4);
  }
  return rgba;
}
