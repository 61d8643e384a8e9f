"""Distances in pixel space that a detector can trust on near-distribution questions (one class against the
others of the same data set), where a model's own likelihood and codes lose to a plain nearest-neighbour search.

Two views of each image, both fixed once for all data sets (no parameter is fitted on test images):
- view A: `soft(x)` = a Gaussian blur (sigma 1 px) of sqrt(x): the square root lifts faint strokes so that shape
  counts more than brightness, the blur forgives one-pixel shifts. Its score is the mean Euclidean distance to the
  `K_NEAREST` (5) nearest reference images.
- view B: `soft(x)` divided by the square root of its norm (brightness half normalised). Its score is the distance
  to the ridge-regularised affine hull of the `K_HULL` (20) nearest reference images (the local hyperplane distance
  of Vincent & Bengio, "K-local hyperplane and convex distance nearest neighbor algorithms", NIPS 2001): an image
  between two training images is close to their hull even when far from each.
- view C, colour images only: `palette(x)` = the mean, standard deviation and roughness (what a 3x3 mean takes
  away) of each channel of sqrt(x / 255), a 9-D summary of an image's colours and grain; its score is the 5-NN
  distance, as for view A. Shape views dilute a difference of colour across a whole picture, and their blur makes
  noise look smooth: on photo-tiles (scikit-learn's two photographs, one class each) views A + B scored 93.3 (china
  in) and 88.8 (flower in), A + B + C 99.9 and 98.1, and uniform noise against the test tiles 1.000 and 1.000
  (mean and spread alone: 99.8 and 95.7, noise 0.633 and 0.988). Grey images leave it out: there mean and spread
  are brightness alone, which A already sees, and adding them lowered Fashion-MNIST from 95.04 to 94.21 and
  mnist-sample from 98.20 to 96.16.
Measured on the one-class protocol (train on one class, all 10,000 test images; 2-core CPU): Fashion-MNIST mean
AUROC 95.05 (raw-pixel 5-NN 92.31), no class under 86.4; each view alone: A 93.9, B 92.5 (docs/concepts/detector.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from latentlab.threads import paced

SIGMA = 1.0  # blur, pixels
K_NEAREST = 5
K_HULL = 20
RIDGE = 1.0  # lambda of the local hyperplane's ridge: keeps 20 neighbours in 784-D from fitting any point exactly
CHUNK = 512  # query rows per distance block: 512 x 20,000 float32 distances is 40 MB
# float32 values of the neighbours gathered per hull block (8 MB: 127 rows at 28x28). A block holds about three
# such arrays; 8,000,000 values made it ~90 MiB of the Fashion-VAE's membership peak, for no speed (5,000 queries
# against 10,000 references: 0.61-0.64 s at 2,000,000, 0.69-0.70 s at 8,000,000, same distances).
HULL_VALUES = 2_000_000
# Candidates the Gram form proposes beyond the k wanted; their exact distances (float64, by difference) choose the k.
# The Gram form ||a||^2 + ||b||^2 - 2ab rounds differently with the batch's size (BLAS picks other kernels): at 40x40
# a blank page's view-B distances to its 20th and 21st references differ by 1e-5 and its error is ~1e-4, so alone
# and beside five other images it chose other hull neighbours, and its hyperplane score moved by 0.030 (-0.481 vs
# -0.511). Chosen by exact distance and then by index, the same image gets the same neighbours in any batch.
SPARE = 8
# The least scale `robust_scale` gives, in the views' units (view A of one pixel one grey level up from black moves
# ~0.01): exact distances make a folder of copies' leave-one-out distances exactly 0, where the Gram form's rounding
# (~1e-2 after the square root) had stood in for a scale, and a floor of 1e-12 made every score +-1e12.
SCALE_FLOOR = 1e-3


def soft(x: np.ndarray) -> Tensor:
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 (N, D) of view A: blur(sqrt(x / 255))."""
    # In blocks: the convolutions' scratch for 10,000 images at once peaked at +480 MB (measured, 28x28).
    x = np.ascontiguousarray(x, dtype=np.uint8)
    if len(x) > CHUNK:
        return torch.cat([_soft(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])
    return _soft(x)


def _soft(x: np.ndarray) -> Tensor:
    # In float64, returned as float32: float32 convolutions rounded one image's view differently with the batch's
    # size (oneDNN picks other kernels), which moved its exact distances by 3e-7 and its hull distance by 1e-3
    # (one image alone and beside another, 40x40).
    t = torch.from_numpy(x).double().div_(255.0).sqrt_()
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    r = int(np.ceil(3 * SIGMA))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * SIGMA**2))
    g = g / g.sum()
    c = t.shape[1]
    # Separable and per channel, with zero padding (the data sets' backgrounds are black).
    t = F.conv2d(F.pad(t, (r, r, 0, 0)), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    t = F.conv2d(F.pad(t, (0, 0, r, r)), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return t.flatten(1).float()


def palette(x: np.ndarray) -> Tensor:
    """uint8 colour images (N, H, W, 3) -> float32 (N, 9) of view C, per channel of s = sqrt(x / 255): the mean,
    the standard deviation, and the roughness, the standard deviation of s minus its 3x3 local mean."""
    # In float64 for the reason of `_soft`.
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)).double().div_(255.0).sqrt_().permute(0, 3, 1, 2)
    rough = t - F.avg_pool2d(t, 3, 1, 1, count_include_pad=False)
    return torch.cat([t.mean((2, 3)), t.std((2, 3), correction=0), rough.std((2, 3), correction=0)], 1).float()


def views(x: np.ndarray) -> dict[str, Tensor]:
    """The views of uint8 images (N, H, W) or (N, H, W, 3): "a", "b" and, for colour, "palette"."""
    a = soft(x)
    return {"a": a, "b": half_normalised(a), **({"palette": palette(x)} if x.ndim == 4 else {})}


def view_distances(q: dict[str, Tensor], ref: dict[str, Tensor], skip: Tensor | None = None,
                   hull: bool = True) -> dict[str, np.ndarray]:
    """Each view's score of the query views `q` against the reference views `ref` (float64 (N,) each):
    "pixel_knn" (view A), "hull" (view B, unless `hull` is False) and "palette" (view C, colour only)."""
    cand_a, cand_b = _nearest_a_b(q["a"], ref["a"], skip, hull)
    near_a = exact_nearest(q["a"], ref["a"], cand_a, K_NEAREST)[0]
    out = {"pixel_knn": near_a.sqrt().mean(1).numpy()}
    if hull:
        out["hull"] = _hull(q["b"], ref["b"], exact_nearest(q["b"], ref["b"], cand_b, K_HULL)[1])
    if "palette" in ref:
        out["palette"] = knn_distance(q["palette"], ref["palette"], skip)
    return out


def half_normalised(a: Tensor) -> Tensor:
    """View B from view A: each row divided by the square root of its norm (at least 1e-6: a blank image's view A
    is all zeros, and so is its view B). In float64, returned as float32, for the reason of `_soft`."""
    a = a.double()
    return (a / a.norm(dim=1, keepdim=True).clamp_min(1e-6).sqrt()).float()


def neighbours(q: Tensor, ref: Tensor, k: int, skip: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Squared distances (float64, exact) and indices of the `k` nearest rows of `ref` for each row of `q`, the
    nearer first, ties by index; `skip[i]` (a row of `ref`) is left out for query i, which scores a reference image
    against the others (leave one out). Found as candidates by the Gram form, chosen by exact distance (SPARE)."""
    wanted = min(k, len(ref) - (skip is not None))
    k = min(k + SPARE, len(ref) - (skip is not None))
    norms = (ref * ref).sum(1)
    dists, index = [], []
    for i in paced(range(0, len(q), CHUNK), lambda i: min(CHUNK, len(q) - i)):
        qi = q[i:i + CHUNK]
        d = ((qi * qi).sum(1, keepdim=True) + norms[None] - 2 * qi @ ref.T).clamp_min_(0)
        if skip is not None:
            d[torch.arange(len(qi)), skip[i:i + CHUNK]] = float("inf")
        v, j = d.topk(k, dim=1, largest=False)
        dists.append(v)
        index.append(j)
    if not dists:
        return torch.zeros(0, wanted, dtype=torch.float64), torch.zeros(0, wanted, dtype=torch.long)
    return exact_nearest(q, ref, torch.cat(index), wanted)


def exact_nearest(q: Tensor, ref: Tensor, candidates: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Of each query row's `candidates` (int64 (N, c) rows of `ref`), the `k` nearest by exact squared distance,
    float64 and computed by difference, the nearer first and equal ones by index: (N, k) float64 and int64. Each
    row's answer depends on that row and its candidates alone, never on the other queries of the batch."""
    k = min(k, candidates.shape[1])
    dists, index = [], []
    rows = max(1, HULL_VALUES // max(1, candidates.shape[1] * q.shape[1]))
    for i in range(0, len(q), rows):
        cand = candidates[i:i + rows].sort(1)[0]  # by index, so that a stable sort by distance breaks ties by index
        d = (ref[cand].double() - q[i:i + rows, None, :].double()).square_().sum(2)
        d, order = d.sort(dim=1, stable=True)
        dists.append(d[:, :k])
        index.append(cand.gather(1, order[:, :k]))
    if not dists:
        return torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, k, dtype=torch.long)
    return torch.cat(dists), torch.cat(index)


def knn_distance(q: Tensor, ref: Tensor, skip: Tensor | None = None) -> np.ndarray:
    """View A's score: mean distance to the K_NEAREST nearest reference rows, float64 (N,)."""
    return neighbours(q, ref, K_NEAREST, skip)[0].sqrt().mean(1).numpy()


def _nearest_a_b(qa: Tensor, ra: Tensor, skip: Tensor | None, hull: bool) -> tuple[Tensor, Tensor | None]:
    """The candidate rows (int64, SPARE more than wanted) of view A's K_NEAREST and, with `hull`, of view B's
    K_HULL nearest references (`exact_nearest` chooses among them), from one Gram matrix per block: B = A / sqrt(|A|)
    row by row, so <b_q, b_r> = <a_q, a_r> / sqrt(|a_q| |a_r|).
    The matmul is ~80% of a block's time (47 of 60 ms, 512 x 10,000 x 784), so two views cost about one.
    Every block is computed in the same two buffers: fresh 20 MB blocks each time left ~300 MB of freed heap
    resident in glibc's malloc (5,000 leave-one-out rows against 8,500: peak +444 MiB, now +107)."""
    k_a, k_b = (min(k + SPARE, len(ra) - (skip is not None)) for k in (K_NEAREST, K_HULL))
    norms_a = (ra * ra).sum(1)
    inv_r = 1.0 / norms_a.sqrt().clamp_min(1e-6).sqrt()  # half_normalised's divisor, inverted
    norms_b = norms_a * inv_r * inv_r
    gram_buf, d_buf = torch.empty(min(CHUNK, len(qa)), len(ra)), torch.empty(min(CHUNK, len(qa)), len(ra))
    cand_a, cand_b = [], []
    for i in paced(range(0, len(qa), CHUNK), lambda i: min(CHUNK, len(qa) - i)):
        qi = qa[i:i + CHUNK]
        rows = torch.arange(len(qi))
        gram, d = torch.mm(qi, ra.T, out=gram_buf[:len(qi)]), d_buf[:len(qi)]
        qn = (qi * qi).sum(1, keepdim=True)
        torch.add(qn, norms_a[None], out=d).add_(gram, alpha=-2).clamp_min_(0)
        if skip is not None:
            d[rows, skip[i:i + CHUNK]] = float("inf")
        cand_a.append(d.topk(k_a, dim=1, largest=False)[1])
        if hull:
            inv_q = 1.0 / qn.sqrt().clamp_min(1e-6).sqrt()
            torch.mul(gram, inv_q, out=d).mul_(inv_r[None]).mul_(-2).add_(qn * inv_q * inv_q).add_(norms_b[None])
            if skip is not None:
                d[rows, skip[i:i + CHUNK]] = float("inf")
            cand_b.append(d.topk(k_b, dim=1, largest=False)[1])
    if not cand_a:
        return torch.zeros(0, k_a, dtype=torch.long), (torch.zeros(0, k_b, dtype=torch.long) if hull else None)
    return torch.cat(cand_a), (torch.cat(cand_b) if hull else None)


def _hull(q: Tensor, ref: Tensor, index: Tensor) -> np.ndarray:
    """The distance of each row of `q` to the ridge-regularised affine hull of its rows `index` of `ref` (N,)."""
    out = []
    rows = max(1, min(CHUNK, HULL_VALUES // (K_HULL * max(q.shape[1], 1))))
    for i in paced(range(0, len(q), rows), lambda i: min(rows, len(q) - i)):
        # float64: in float32 the batched products and solve gave one image other distances by the batch's size
        # (4e-7 relative, 1 vs 2 images at 40x40); in float64 they agree to ~1e-15.
        near = ref[index[i:i + rows]].double()  # (m, K, D)
        qi = q[i:i + rows, None, :].double()
        centre = near.mean(1, keepdim=True)
        v = near - centre
        eye = RIDGE * torch.eye(v.shape[1], dtype=v.dtype)
        alpha = torch.linalg.solve(v @ v.transpose(1, 2) + eye, v @ (qi - centre).transpose(1, 2))
        out.append((qi - centre - alpha.transpose(1, 2) @ v).norm(dim=2).squeeze(1))
    return torch.cat(out).numpy() if out else np.zeros(0)


def robust_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 x MAD (a standard deviation for normal data, unmoved by a few extreme values). Where more
    than half the values equal the median the MAD is 0, and 1.2533 x the mean absolute deviation stands in (the
    modified z-score's rule, Iglewicz & Hoaglin 1993; also a standard deviation for normal data): a folder whose
    images are mostly copies of each other has mostly zero distances, and a scale of 0 turned every score into
    +-1e13. Values that are all equal (every image with K_NEAREST exact copies: distances of exactly 0) get the
    floor SCALE_FLOOR."""
    med = float(np.median(values))
    dev = np.abs(values - med)
    mad = 1.4826 * float(np.median(dev))
    return med, max(mad if mad > 0 else 1.2533 * float(np.mean(dev)), SCALE_FLOOR)
