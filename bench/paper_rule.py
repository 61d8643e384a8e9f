"""How `latentlab.images` tells a drawing on paper from a photograph (`images._paper`): the measurement behind
PLAIN, EDGE_PLAIN and ONE_SIDED.

Real images only: drawings made from the bundled MNIST digits (cropped to their box so the ink touches every side,
dark on light, upscaled 3-10x, some as JPEG, some in pencil grey, some lit unevenly), outlines cut by the frame
(a new user's 40x40 shapes) and thick strokes crossing the edges; and scikit-learn's two photographs with random
crops of them (28-400 px). For each group: the border's plain share and how many of them `Paper.is_plain`
accepts as drawings.

    python bench/paper_rule.py            # about 20 s
    python bench/paper_rule.py --smoke    # a few images per group (tests/test_bench.py)
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image, ImageDraw
from sklearn.datasets import load_sample_images

from latentlab.data import load_dataset
from latentlab.images._paper import PLAIN, fit_paper


def _grey(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("L"), np.float32) / 255


def _jpeg(im: Image.Image, quality: int = 70) -> Image.Image:
    buf = io.BytesIO()
    im.convert("L").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def tight_digits(n: int) -> dict[str, list[np.ndarray]]:
    """MNIST training digits cropped to their box, dark on light, upscaled; four ways of putting them on paper."""
    x = load_dataset("mnist-sample", progress=False).x_train
    out: dict[str, list[np.ndarray]] = {"digit, tight": [], "digit, tight, JPEG": [], "digit, tight, pencil": [],
                                        "digit, tight, lit unevenly": []}
    for i in range(n):
        rows, cols = np.nonzero(x[i] > 30)
        crop = Image.fromarray(255 - x[i][rows.min():rows.max() + 1, cols.min():cols.max() + 1])
        k = (3, 6, 10)[i % 3]
        g = _grey(crop.resize((crop.width * k, crop.height * k), Image.Resampling.BICUBIC))
        out["digit, tight"].append(g)
        out["digit, tight, JPEG"].append(_grey(_jpeg(Image.fromarray((g * 255).astype(np.uint8)))))
        out["digit, tight, pencil"].append(1 - (1 - g) * 0.5)
        out["digit, tight, lit unevenly"].append((g * 0.8 + 0.1) * np.linspace(0.65, 1.0, g.shape[1])[None, :])
    return out


def cut_shapes(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """3-px outlines of squares and circles on 40x40 light paper, placed so that many run off the canvas."""
    out = []
    for i in range(n):
        im = Image.new("L", (40, 40), 235)
        s, cx, cy = (int(v) for v in rng.integers((10, 14, 14), (19, 27, 27)))
        box = [cx - s, cy - s, cx + s, cy + s]
        (ImageDraw.Draw(im).ellipse if i % 2 else ImageDraw.Draw(im).rectangle)(box, outline=20, width=3)
        out.append(_grey(im))
    return out


def strokes(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """1-3 antialiased strokes (drawn at 4x, reduced) crossing the edges of a 60-300 px sheet, half as JPEG."""
    out = []
    for i in range(n):
        side = int(rng.integers(60, 300))
        big = Image.new("L", (side * 4, side * 4), 255)
        for _ in range(int(rng.integers(1, 4))):
            points = [tuple(int(v) for v in rng.integers(-side, 5 * side, 2)) for _ in range(3)]
            ImageDraw.Draw(big).line(points, fill=int(rng.integers(0, 80)), width=int(rng.integers(4, 40)))
        im = big.resize((side, side), Image.Resampling.LANCZOS)
        out.append(_grey(_jpeg(im, 60) if i % 2 else im))
    return out


def photo_crops(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random square crops (28-400 px, a third of them reduced to 28-120 px) of scikit-learn's two photographs."""
    out = []
    for photo in load_sample_images().images:
        im, (h, w) = Image.fromarray(photo), photo.shape[:2]
        for j in range(n):
            s = int(rng.integers(28, 400))
            y, x = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
            crop = im.crop((x, y, x + s, y + s))
            out.append(_grey(crop.resize((int(rng.integers(28, 120)),) * 2) if j % 3 == 0 else crop))
    return out


def measure(n: int = 150) -> dict[str, dict[str, float]]:
    """Per group: the number of images, the 5%, median and 95% of the border's plain share, and the share of them
    taken for drawings by the plain border alone (PLAIN, the rule before ink touching the border was allowed) and
    by `is_plain`."""
    rng = np.random.default_rng(0)
    groups = tight_digits(n) | {"outlines cut by the frame": cut_shapes(n, rng), "strokes over the edges":
                                strokes(max(2, n // 2), rng), "photograph, whole": [_grey(Image.fromarray(p)) for p
                                                                                   in load_sample_images().images],
                                "photograph, crop": photo_crops(n, rng)}
    out = {}
    for name, images in groups.items():
        papers = [fit_paper(g) for g in images]
        plain = np.array([p.plain for p in papers])
        out[name] = {"n": len(images), "plain_5": float(np.quantile(plain, 0.05)),
                     "plain_50": float(np.median(plain)), "plain_95": float(np.quantile(plain, 0.95)),
                     "plain_alone": float(np.mean(plain >= PLAIN)), "drawing": float(np.mean([p.is_plain for p in
                                                                                               papers]))}
    return out


def table(result: dict[str, dict[str, float]]) -> str:
    lines = ["| images | n | plain border 5% / median / 95% | drawings by the plain border alone | by `is_plain` |",
             "|---|---|---|---|---|"]
    lines += [f"| {k} | {r['n']} | {r['plain_5']:.2f} / {r['plain_50']:.2f} / {r['plain_95']:.2f} | "
              f"{r['plain_alone']:.0%} | {r['drawing']:.0%} |" for k, r in result.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few images per group")
    args = parser.parse_args(argv)
    print(table(measure(6 if args.smoke else 150)))


if __name__ == "__main__":
    main()
