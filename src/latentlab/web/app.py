"""`latentlab serve`: a FastAPI app with a JSON API and one hand-written page that explores trained runs.

Runs are looked up by id among the served set only, and the page's files (index.html, style.css, js/*.js) are
read once at start-up: nothing a request says is ever turned into a file-system path.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from latentlab import __version__
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.rundir import META, MODEL, RunError, load_run
from latentlab.web.images import MAX_UPLOAD_BYTES, Layout, UploadError, data_url, open_image, png, to_model_input
from latentlab.web.service import RunService

STATIC = Path(__file__).parent / "static"
# The page's files by the path the page asks for: the style sheet and the script's ES modules (js/*.js),
# listed from the package once, at import. A request's path is only ever looked up in this dict.
PAGE_FILES = {"style.css": "text/css; charset=utf-8",
              **{f"js/{p.name}": "text/javascript; charset=utf-8" for p in sorted((STATIC / "js").glob("*.js"))}}
# The page loads only its own files and draws images from data: URLs and in-page canvases.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                  b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
DOCS_PATHS = ("/docs", "/redoc")  # FastAPI's API pages load their scripts from a CDN: no CSP there
MAX_BODY = MAX_UPLOAD_BYTES + 64 * 1024  # the file plus the multipart envelope
RunId = Annotated[str, PathParam(description="run id, as listed by GET /api/runs")]
Upload = Annotated[UploadFile, File(description="a PNG or JPEG image (at most 2 MB, 4096x4096 pixels)")]


class _Guard:
    """ASGI middleware: refuses request bodies over `max_body` bytes with 413 before any parsing, and adds
    the security headers to every response."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        guarded = not scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start" and guarded:
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send_with_headers)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_body:
            return await _reject(send_with_headers, declared)
        body = bytearray()
        while True:  # read it all (at most max_body bytes), then hand the app a replay
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await _reject(send_with_headers, str(len(body)).encode() + b"+")
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send_with_headers)


async def _reject(send: Any, declared: bytes) -> None:
    too_big = declared.rstrip(b"+").isdigit()
    status = 413 if too_big else 400
    detail = (f"the request body is {declared.decode(errors='replace')} bytes; uploads are limited to "
              f"{MAX_UPLOAD_BYTES:,} bytes (2 MB)" if too_big else "the Content-Length header is not a number")
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def discover_runs(roots: Sequence[Path]) -> list[Path]:
    """Run directories (holding meta.json and model.safetensors) under the first root that has any."""
    for root in roots:
        found = sorted({p.parent for p in Path(root).rglob(META) if (p.parent / MODEL).is_file()})
        if found:
            return found
    return []


def load_services(run_dirs: Sequence[Path], datasets: Mapping[str, ImageData] | None = None) -> dict[str, RunService]:
    """Load each run once, and each data set once however many runs share it; ids are the directory names."""
    if not run_dirs:
        raise RunError("no runs to serve; train one with `latentlab train mnist-vae` or pass RUN_DIR")
    cache: dict[str, ImageData | str] = dict(datasets or {})
    services: dict[str, RunService] = {}
    for path in run_dirs:
        run = load_run(path)
        name = run.config.dataset
        if name not in cache:
            try:
                # Never download while serving: a run's data set is on disk if it was trained here.
                cache[name] = load_dataset(name, download=False, progress=False)
            except DatasetError as exc:
                cache[name] = f"the test set ({name}) could not be loaded: {exc}"
        data = cache[name]
        service = RunService(run, data if isinstance(data, ImageData) else None,
                             data_error=data if isinstance(data, str) else "")
        run_id, k = run.name, 2
        while run_id in services:  # two directories with the same name, e.g. runs/a/x and runs/b/x
            run_id, k = f"{run.name}-{k}", k + 1
        services[run_id] = service
    return services


def _png(image: Any) -> Response:
    return Response(png(image), media_type="image/png", headers={"cache-control": "no-store"})


def _read_upload(file: UploadFile, layout: Layout) -> Any:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    try:
        return to_model_input(open_image(data), layout)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def create_app(run_dirs: Sequence[Path], datasets: Mapping[str, ImageData] | None = None) -> FastAPI:
    """The app serving `run_dirs`. `datasets` maps a run's `config.dataset` to its images, for runs whose data
    set cannot be loaded by name (tests, or data already in memory); others are loaded with `load_dataset`."""
    services = load_services(run_dirs, datasets)
    page = {name: (STATIC / name).read_bytes() for name in ("index.html", *PAGE_FILES)}
    # No /docs or /redoc: FastAPI's pages fetch Swagger UI from a CDN, and this server works offline.
    app = FastAPI(title="latentlab", version=__version__, docs_url=None, redoc_url=None,
                  description="Explore trained autoencoders and VAEs: latent plane, decoding, reconstruction, "
                              "denoising and the membership check. Images are 28x28 grayscale PNGs.")
    app.add_middleware(_Guard, max_body=MAX_BODY)
    app.state.services = services

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{' '.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    def service(run_id: str) -> RunService:
        try:
            return services[run_id]
        except KeyError:
            raise HTTPException(404, f"unknown run {run_id!r}; served runs: {', '.join(services)}") from None

    def coordinate(name: str, value: float, s: RunService) -> float:
        if not math.isfinite(value) or abs(value) > s.plane.limit:
            raise HTTPException(422, f"{name}={value} is outside the plane; use a finite number with "
                                     f"|{name}| <= {s.plane.limit:g}")
        return value

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page["index.html"])

    @app.get("/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(page[name], media_type=PAGE_FILES[name])

    @app.get("/api/runs", summary="The served runs with their config and headline metrics")
    def runs() -> list[dict[str, Any]]:
        return [{**s.summary(), "id": run_id} for run_id, s in services.items()]

    @app.get("/api/runs/{run_id}/latent", summary="Test-set codes on the latent plane, with labels and class names")
    def latent(run_id: RunId, codes: Annotated[bool, Query(description="also return the full codes")] = False
               ) -> dict[str, Any]:
        s = service(run_id)
        p = s.plane
        out = {"points": s.points.round(4).tolist(), "labels": s.labels.tolist(), "classes": list(s.classes),
               "latent_dim": s.latent_dim, "plane": p.kind, "explained": list(p.explained),
               "x_range": list(p.x_range), "y_range": list(p.y_range), "limit": p.limit,
               "basis": {"mean": p.mean.tolist(), "axes": p.axes.tolist()}, "n_test": len(s.x_test),
               "data_error": s.data_error}
        if codes:
            out["codes"] = s.codes.round(4).tolist()
        return out

    @app.get("/api/runs/{run_id}/decode", summary="Decode one point of the latent plane (28x28 PNG)",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def decode(run_id: RunId, x: Annotated[float, Query(description="plane x")],
               y: Annotated[float, Query(description="plane y")]) -> Response:
        s = service(run_id)
        point = [[coordinate("x", x, s), coordinate("y", y, s)]]
        return _png(s.decode(point)[0])

    @app.get("/api/runs/{run_id}/decoder", summary="Weights of a dense decoder, for decoding in the page")
    def decoder(run_id: RunId) -> dict[str, Any]:
        export = service(run_id).decoder_export()
        if export is None:
            raise HTTPException(404, "this run's decoder is convolutional; decode points with /decode instead")
        return export

    @app.get("/api/runs/{run_id}/manifold", summary="n x n images decoded on a grid over the plane (PNG)",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def manifold(run_id: RunId, n: Annotated[int, Query(ge=2, le=30, description="grid size")] = 15) -> Response:
        return _png(service(run_id).manifold(n))

    @app.get("/api/runs/{run_id}/images/{index}", summary="One test image (28x28 PNG)",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def test_image(run_id: RunId, index: int) -> Response:
        s = service(run_id)
        if not 0 <= index < len(s.x_test):
            raise HTTPException(404, f"test image {index} does not exist; this run has {len(s.x_test)} "
                                     f"(indices 0..{len(s.x_test) - 1})")
        return _png(s.x_test[index])

    @app.get("/api/runs/{run_id}/denoise", summary="A test image, a noisy copy and the model's output")
    def denoise(run_id: RunId, index: Annotated[int, Query(ge=0, description="test image index")] = 0,
                noise: Annotated[float, Query(ge=0, le=1, description="noise level (std or fraction)")] = 0.5,
                seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> dict[str, Any]:
        s = service(run_id)
        if index >= len(s.x_test):
            raise HTTPException(422, f"index={index} is out of range; this run has {len(s.x_test)} test images")
        r = s.denoise(index, noise, seed)
        return {**r, "index": index, "noise": noise, "denoising": s.noise.kind != "none",
                **{k: data_url(r[k]) for k in ("clean", "noisy", "output")}}

    @app.post("/api/runs/{run_id}/reconstruct", summary="Reconstruct an uploaded image")
    def reconstruct(run_id: RunId, file: Upload) -> dict[str, Any]:
        s = service(run_id)
        image = _read_upload(file, s.layout)
        r = s.try_image(image)
        return {**r, "input": data_url(image), "reconstruction": data_url(r["reconstruction"])}

    @app.post("/api/runs/{run_id}/detect", summary="Is an uploaded image part of the data set?")
    def detect(run_id: RunId, file: Upload) -> dict[str, Any]:
        s = service(run_id)
        image = _read_upload(file, s.layout)
        try:
            return {**s.detect(image), "input": data_url(image)}
        except (DatasetError, RunError, ValueError) as exc:
            raise HTTPException(503, f"the membership check is unavailable for this run: {exc}") from None

    return app


def _warm(s: RunService) -> None:
    try:
        s.detector()
    except Exception as exc:  # any failure is reported again, with its message, when the page asks
        print(f"latentlab serve: {s.run.name}: membership check unavailable: {exc}", file=sys.stderr)


def serve(run_dirs: Sequence[Path], host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the runs, print the page's URL and serve until interrupted."""
    import uvicorn

    app = create_app(run_dirs)
    for s in app.state.services.values():
        # Fit (or load) the detectors in the background, so the first "Try an image" answers quickly.
        threading.Thread(target=_warm, args=(s,), daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    print(f"latentlab serve: {len(run_dirs)} run(s) at http://{shown}:{port}/  (Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` from a background thread (port 0: any free port) and yield its base URL; stops on exit.
    For tests and scripts that drive the page with a browser."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="latentlab-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
