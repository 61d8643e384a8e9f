"""Screenshots of the `latentlab serve` page for the README: one PNG per panel.

    python scripts/screenshots.py [RUN_DIR ...] [--out docs/screenshots] [--run RUN_ID] [--upload IMAGE --prefix P]

Serves the runs (default: those under runs/, else report/runs/) on 127.0.0.1, drives Debian's headless
chromium with playwright, draws a digit (or, for a run with no drawing canvas, a colour one, uploads IMAGE), points
at the plane and the manifold, and saves the panels, named PREFIX + panel + .png.
The browser may only talk to the local server: any other request is aborted and reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from latentlab.web.app import create_app, discover_runs, running

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PANELS = {"latent": "#panel-latent", "manifold": "#panel-manifold", "try": "#panel-try", "denoise": "#panel-denoise",
          "run": "#panel-run"}
# A hand-drawn "3" on the 280x280 canvas, as fractions of its size: two arcs stacked.
THREE = [[(0.33, 0.25), (0.45, 0.17), (0.6, 0.18), (0.66, 0.3), (0.58, 0.44), (0.45, 0.48)],
         [(0.45, 0.48), (0.62, 0.53), (0.68, 0.67), (0.6, 0.8), (0.45, 0.83), (0.32, 0.76)]]


def draw_strokes(page, strokes) -> None:
    page.locator("#draw").scroll_into_view_if_needed()  # the mouse only reaches what is on screen
    box = page.locator("#draw").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        page.mouse.up()


def pick_test_image(page, index: int) -> None:
    page.locator("#index").fill(str(index))
    page.wait_for_function(f"/^#{index}( |$)/.test(document.getElementById('index-out').textContent)",
                           timeout=30_000)
    page.evaluate("() => document.activeElement.blur()")  # no focus ring in the picture


def shoot(url: str, out: Path, run_id: str | None, upload: Path | None = None, prefix: str = "") -> list[str]:
    offsite: list[str] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS,
                                                       viewport={"width": 1280, "height": 900},
                                                       device_scale_factor=2, bypass_csp=True)
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                      else (offsite.append(route.request.url), route.abort()))
        page = context.new_page()
        page.goto(url + (f"/?run={run_id}" if run_id else "/"))
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.wait_for_function("document.getElementById('manifold').complete", timeout=30_000)

        if page.locator("#draw").is_visible():
            draw_strokes(page, THREE)
        elif upload is not None:
            page.set_input_files("#upload", str(upload))
        else:
            raise SystemExit("this run has no drawing canvas (colour images): pass --upload IMAGE")
        page.wait_for_selector("#verdict[data-state='in'], #verdict[data-state='out'], #verdict[data-state='error']",
                               timeout=30_000)
        pick_test_image(page, 7)

        page.locator("#plane").scroll_into_view_if_needed()
        plane = page.locator("#plane").bounding_box()
        page.mouse.move(plane["x"] + plane["width"] * 0.78, plane["y"] + plane["height"] * 0.42)
        page.wait_for_timeout(300)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("latent", "try", "run"):
            page.locator(PANELS[name]).screenshot(path=out / f"{prefix}{name}.png")
        page.locator("#manifold").scroll_into_view_if_needed()
        tiles = page.locator("#manifold").bounding_box()
        page.mouse.move(tiles["x"] + tiles["width"] * 0.3, tiles["y"] + tiles["height"] * 0.7)
        page.wait_for_timeout(300)
        page.locator(PANELS["manifold"]).screenshot(path=out / f"{prefix}manifold.png")

        # The denoise panel is best shown with a run trained to denoise, if one is served.
        runs = page.evaluate("() => fetch('/api/runs').then(r => r.json())")
        denoiser = next((r["id"] for r in runs if r["denoising"]), None)
        if denoiser and len(runs) > 1:
            page.select_option("#run-picker", denoiser)
            page.wait_for_function("document.getElementById('run-line').textContent.includes('denoising')")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            pick_test_image(page, 7)
        page.locator(PANELS["denoise"]).screenshot(path=out / f"{prefix}denoise.png")
        written = [f"{prefix}{name}.png" for name in ("latent", "try", "run", "manifold", "denoise")]
        context.close()
    if offsite:
        raise SystemExit(f"the page tried to reach other hosts: {sorted(set(offsite))}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run directories (default: runs/, else report/runs/)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--run", help="the run to show first (its id, the directory name)")
    parser.add_argument("--upload", type=Path, help="the image to try on a run without a drawing canvas (colour)")
    parser.add_argument("--prefix", default="", help="put before each file name, e.g. colour-")
    args = parser.parse_args(argv)
    run_dirs = args.runs or discover_runs([Path("runs"), Path("report/runs")])
    if not run_dirs:
        print("no runs found; train one (`latentlab train mnist-vae`) or pass RUN_DIR", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing; install Debian's chromium package", file=sys.stderr)
        return 2
    with running(create_app(run_dirs)) as url:
        written = shoot(url, args.out, args.run, args.upload, args.prefix)
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
