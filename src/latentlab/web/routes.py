"""The JSON API, one `APIRouter`: runs, latent plane, decoding, manifold, test images, denoising and uploads.

A run is found by id among the served set only (the `Service` dependency); nothing a request says is ever turned
into a file-system path.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from latentlab.errors import (
    ConfigError,
    DataChangedError,
    DatasetError,
    ImageError,
    ImageFormatError,
    ImageTooLargeError,
    RunError,
    choose,
)
from latentlab.images import MAX_UPLOAD_BYTES, Prepared, data_url, png, read_image
from latentlab.web.service import RunService

router = APIRouter(prefix="/api")
Upload = Annotated[UploadFile, File(description="a PNG or JPEG image (at most 2 MB, 4096x4096 pixels)")]


def _service(request: Request, run_id: Annotated[str, PathParam(description="run id, as listed by GET /api/runs")]
             ) -> RunService:
    services: dict[str, RunService] = request.app.state.services
    try:
        return services[run_id]
    except KeyError:
        raise HTTPException(404, f"unknown run {run_id!r}; served runs: {', '.join(services)}") from None


Service = Annotated[RunService, Depends(_service)]


def coordinate(name: str, value: float, s: RunService) -> float:
    if not math.isfinite(value) or abs(value) > s.plane.limit:
        raise HTTPException(422, f"{name}={value} is outside the plane; use a finite number with "
                                 f"|{name}| <= {s.plane.limit:g}")
    return value


def _png(image: Any) -> Response:
    return Response(png(image), media_type="image/png", headers={"cache-control": "no-store"})


_AUTO = ("grey runs: the automatic steps (invert a light background, crop, fit and centre like the training data); "
         "false: only decode and resize")
Auto = Annotated[bool, Query(description=_AUTO)]
# The same switch as a field of the multipart form that carries the file, which is where an HTML form puts it.
AutoField = Annotated[bool | None, Form(alias="auto", description=f"{_AUTO} (as a form field; wins over the query)")]


# Which HTTP status says why an image was refused, by error kind (the first of an error's classes listed here).
IMAGE_STATUS: dict[type[ImageError], int] = {ImageTooLargeError: 413, ImageFormatError: 415, ImageError: 400}


def image_status(exc: ImageError) -> int:
    """The HTTP status of an image refused with `exc`: 413 too large, 415 not an image format read here, else 400."""
    return next(IMAGE_STATUS[kind] for kind in type(exc).__mro__ if kind in IMAGE_STATUS)


def _read_upload(file: UploadFile, s: RunService, auto: bool) -> Prepared:
    """The one image pipeline (`latentlab.images`) at the run's shape, exactly as `latentlab detect` runs it."""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    try:
        return read_image(data, layout=s.layout, auto=auto, shape=s.image_shape)
    except ImageError as exc:
        raise HTTPException(image_status(exc), str(exc)) from None


def _described(prepared: Prepared) -> dict[str, Any]:
    return {"input": data_url(prepared.pixels), "steps": list(prepared.steps),
            "source_size": list(prepared.source_size)}


@router.get("/runs", summary="The served runs with their config and headline metrics")
def runs(request: Request) -> list[dict[str, Any]]:
    out = []
    for run_id, s in request.app.state.services.items():
        try:
            out.append({**s.summary(), "id": run_id})
        except Exception as exc:  # one run's trouble is that run's entry, never the whole list's
            out.append({"id": run_id, "name": run_id, "error": f"{type(exc).__name__}: {exc}"})
    return out

@router.get("/runs/{run_id}/latent", summary="Test-set codes on the latent plane, with labels and class names")
def latent(s: Service, codes: Annotated[bool, Query(description="also return the full codes")] = False
           ) -> dict[str, Any]:
    p = s.plane
    out = {"points": s.points.round(4).tolist(), "labels": s.labels.tolist(), "classes": list(s.classes),
           "latent_dim": s.latent_dim, "plane": p.kind, "explained": list(p.explained),
           "x_range": list(p.x_range), "y_range": list(p.y_range), "limit": p.limit,
           "basis": {"mean": p.mean.tolist(), "axes": p.axes.tolist()}, "n_test": len(s.x_test),
           "data_error": s.data_error}
    if codes:
        out["codes"] = s.codes.round(4).tolist()
    return out

@router.get("/runs/{run_id}/decode", summary="Decode one point of the latent plane (a PNG of the run's size)",
         response_class=Response, responses={200: {"content": {"image/png": {}}}})
def decode(s: Service, x: Annotated[float, Query(description="plane x")],
           y: Annotated[float, Query(description="plane y")]) -> Response:
    point = [[coordinate("x", x, s), coordinate("y", y, s)]]
    return _png(s.decode(point)[0])

@router.get("/runs/{run_id}/decoder", summary="Weights of a dense decoder, for decoding in the page")
def decoder(s: Service) -> dict[str, Any]:
    export = s.decoder_export()
    if export is None:
        raise HTTPException(404, "this run's decoder is convolutional; decode points with /decode instead")
    return export

@router.get("/runs/{run_id}/manifold", summary="n x n images decoded on a grid over the plane (PNG)",
         response_class=Response, responses={200: {"content": {"image/png": {}}}})
def manifold(s: Service, n: Annotated[int, Query(ge=2, le=30, description="grid size")] = 15) -> Response:
    return _png(s.manifold(n))

@router.get("/runs/{run_id}/images/{index}", summary="One test image (PNG)",
         response_class=Response, responses={200: {"content": {"image/png": {}}}})
def test_image(s: Service, index: int) -> Response:
    if not 0 <= index < len(s.x_test):
        raise HTTPException(404, f"test image {index} does not exist; this run has {len(s.x_test)} "
                                 f"(indices 0..{len(s.x_test) - 1})")
    return _png(s.x_test[index])

@router.get("/runs/{run_id}/denoise", summary="A test image, a noisy copy and the model's output")
def denoise(s: Service, index: Annotated[int, Query(ge=0, description="test image index")] = 0,
            noise: Annotated[float, Query(ge=0, le=1, description="noise level (std or fraction)")] = 0.5,
            seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> dict[str, Any]:
    if index >= len(s.x_test):
        raise HTTPException(422, f"index={index} is out of range; this run has {len(s.x_test)} test images")
    r = s.denoise(index, noise, seed)
    return {**r, "index": index, "noise": noise, "denoising": s.noise.kind != "none",
            **{k: data_url(r[k]) for k in ("clean", "noisy", "output")}}

@router.post("/runs/{run_id}/reconstruct", summary="Reconstruct an uploaded image")
def reconstruct(s: Service, file: Upload, auto: Auto = True, auto_field: AutoField = None) -> dict[str, Any]:
    prepared = _read_upload(file, s, auto if auto_field is None else auto_field)
    r = s.try_image(prepared.pixels)
    return {**r, **_described(prepared), "reconstruction": data_url(r["reconstruction"])}


Score = Annotated[str, Query(description="novelty score, as `latentlab detect --score` (elbo needs a VAE)")]


@router.post("/runs/{run_id}/detect", summary="Is an uploaded image part of the data set?")
def detect(s: Service, file: Upload, auto: Auto = True, auto_field: AutoField = None,
           score: Score = "combined") -> dict[str, Any]:
    from latentlab.analysis.novelty import valid_scores

    try:
        choose(valid_scores(s.model), score, "score", problem=f"score={score!r} is not a score of this run")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    prepared = _read_upload(file, s, auto if auto_field is None else auto_field)
    try:
        # `latentlab detect --json`'s answer (blank and several objects included), with the input as the model saw it.
        return {**s.detect(prepared, score), "input": data_url(prepared.pixels)}
    except (ConfigError, DatasetError, RunError, DataChangedError) as exc:
        raise HTTPException(503, f"the membership check is unavailable for this run: {exc}") from None
