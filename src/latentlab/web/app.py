"""`latentlab serve`: the FastAPI app (page, static files, the API router of `routes`), loading the runs, serving.

The page's files (index.html, style.css, js/*.js) are read once at start-up and runs are looked up by id among the
served set only: nothing a request says is ever turned into a file-system path.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from latentlab._version import __version__
from latentlab.data import ImageData
from latentlab.errors import ConfigError, DatasetError, RunError
from latentlab.files import shown_name
from latentlab.runs import META, MODEL, data_options, load_run, load_run_data
from latentlab.web.guard import LOCAL_HOSTS, MAX_BODY, Guard, served_hosts
from latentlab.web.routes import router
from latentlab.web.service import RunService

STATIC = Path(__file__).parent / "static"
# The page's files by the path the page asks for: the style sheet and the script's ES modules (js/*.js),
# listed from the package once, at import. A request's path is only ever looked up in this dict.
PAGE_FILES = {"style.css": "text/css; charset=utf-8",
              **{f"js/{p.name}": "text/javascript; charset=utf-8" for p in sorted((STATIC / "js").glob("*.js"))}}


def _shown(value: Any) -> Any:
    """`value` with every string made printable (`shown_name`): names read from disk may hold undecodable bytes."""
    if isinstance(value, str):
        return shown_name(value)
    if isinstance(value, dict):
        return {_shown(k): _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


class ShownJSON(JSONResponse):
    """JSON whose strings are always valid UTF-8: a Latin-1 folder name in a run's config is sent as \\xNN
    instead of failing the whole response (and with it the page) with a UnicodeEncodeError."""

    def render(self, content: Any) -> bytes:
        return super().render(_shown(content))


def discover_runs(roots: Sequence[Path]) -> list[Path]:
    """The run directories under the first root that has any.

    Parameters
    ----------
    roots : sequence of Path
        Folders searched in order (runs/, then report/runs/).

    Returns
    -------
    list of Path
        Sorted directories holding meta.json and model.safetensors; empty when none has any.
    """
    for root in roots:
        found = sorted({p.parent for p in Path(root).rglob(META) if (p.parent / MODEL).is_file()})
        if found:
            return found
    return []


def load_services(run_dirs: Sequence[Path], datasets: Mapping[str, ImageData] | None = None) -> dict[str, RunService]:
    """Load each run once, and each data set once however many runs share it; ids are the directory names. A run
    that does not load is left out and said on stderr, unless none loads (then its RunError is raised)."""
    if not run_dirs:
        raise RunError("no runs to serve; train one with `latentlab train mnist-vae` or pass RUN_DIR", field="runs")
    cache: dict[str, ImageData | str] = dict(datasets or {})
    services: dict[str, RunService] = {}
    failures: list[RunError] = []
    for path in run_dirs:
        try:
            run = load_run(path)
        except RunError as exc:
            failures.append(exc)
            print(f"latentlab serve: {shown_name(path)} left out: {exc}", file=sys.stderr)
            continue
        name = run.config.dataset
        options = data_options(run.meta, run.model.image_shape)
        key = f"{name} {sorted(options.items())}"  # one data set loaded two ways is two sets
        if name in cache:
            key = name  # given by the caller, as it is
        elif key not in cache:
            try:
                # Never download while serving: a run's data set is on disk if it was trained here.
                cache[key] = load_run_data(run, download=False)
            except (DatasetError, RunError) as exc:
                cache[key] = f"the test set ({name}) could not be loaded: {exc}"
        data = cache[key]
        service = RunService(run, data if isinstance(data, ImageData) else None,
                             data_error=data if isinstance(data, str) else "")
        run_id, k = run.name, 2
        while run_id in services:  # two directories with the same name, e.g. runs/a/x and runs/b/x
            run_id, k = f"{run.name}-{k}", k + 1
        services[run_id] = service
    if not services:
        raise failures[0]
    return services


def create_app(run_dirs: Sequence[Path], datasets: Mapping[str, ImageData] | None = None,
               hosts: Sequence[str] = LOCAL_HOSTS) -> FastAPI:
    """The FastAPI app serving the page and its JSON API for some runs.

    Parameters
    ----------
    run_dirs : sequence of Path
        The runs to serve; ids are the directory names.
    datasets : mapping of str to ImageData, optional
        A run's `config.dataset` -> its images, for runs whose data set cannot be loaded by name (tests, data
        already in memory); others are loaded with `load_dataset`.
    hosts : sequence of str, default LOCAL_HOSTS
        The Host names answered (this machine's loopback names by default; see `web.guard.served_hosts`); other
        hosts get 400.

    Returns
    -------
    fastapi.FastAPI
        The app (needs the `web` extra).
    """
    services = load_services(run_dirs, datasets)
    page = {name: (STATIC / name).read_bytes() for name in ("index.html", *PAGE_FILES)}
    # No /docs or /redoc: FastAPI's pages fetch Swagger UI from a CDN, and this server works offline.
    app = FastAPI(title="latentlab", version=__version__, docs_url=None, redoc_url=None,
                  default_response_class=ShownJSON,
                  description="Explore trained autoencoders and VAEs: latent plane, decoding, reconstruction, "
                              "denoising and the membership check. Images are PNGs of the run's size and colour; "
                              "uploads of any size are read at the run's shape.")
    app.add_middleware(Guard, max_body=MAX_BODY, hosts=hosts)
    app.state.services = services

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{' '.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page["index.html"])

    @app.get("/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(page[name], media_type=PAGE_FILES[name])

    app.include_router(router)
    return app


def _warm(s: RunService) -> None:
    if s.membership_unavailable:
        print(f"latentlab serve: {s.run.name}: membership check unavailable: {s.membership_unavailable}",
              file=sys.stderr)
        return
    try:
        s.detector()
    except Exception as exc:  # any failure is reported again, with its message, when the page asks
        print(f"latentlab serve: {s.run.name}: membership check unavailable: {exc}", file=sys.stderr)


def serve(run_dirs: Sequence[Path], host: str = "127.0.0.1", port: int = 8000,
          allow_hosts: Sequence[str] = ()) -> None:
    """Load the runs, print the page's URL and serve until interrupted.

    Parameters
    ----------
    run_dirs : sequence of Path
        The runs to serve.
    host : str, default "127.0.0.1"
        Address to listen on (this machine only by default).
    port : int, default 8000
        Port, 1 to 65535.
    allow_hosts : sequence of str, default ()
        More Host names to answer besides `served_hosts(host)` ("*" answers any).

    Raises
    ------
    ConfigError
        A port out of range.
    """
    import uvicorn

    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"port={port!r} is out of range: choose a port from 1 to 65535 (e.g. 8000)",
                          field="port", value=port)

    hosts = served_hosts(host, allow_hosts)
    app = create_app(run_dirs, hosts=sorted(hosts))
    for s in app.state.services.values():
        # Fit (or load) the detectors in the background, so the first "Try an image" answers quickly.
        threading.Thread(target=_warm, args=(s,), daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    print(f"latentlab serve: {len(run_dirs)} run(s) at http://{shown}:{port}/  (Ctrl+C stops)", flush=True)
    if "*" not in hosts:
        print(f"latentlab serve: answering to the hosts {', '.join(sorted(hosts))} (more with --allow-host NAME)",
              flush=True)
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
