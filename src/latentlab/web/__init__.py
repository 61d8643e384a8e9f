"""The `latentlab serve` web page and its JSON API (needs the `web` extra: fastapi, uvicorn, python-multipart)."""

from latentlab.web.app import create_app, discover_runs, serve

__all__ = ["create_app", "discover_runs", "serve"]
