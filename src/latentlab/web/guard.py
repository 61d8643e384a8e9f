"""ASGI middleware in front of the app: a body-size limit enforced before any parsing, and security headers."""

from __future__ import annotations

import json
from typing import Any

from latentlab.images import MAX_UPLOAD_BYTES

# The page loads only its own files and draws images from data: URLs and in-page canvases.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                  b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
MAX_BODY = MAX_UPLOAD_BYTES + 64 * 1024  # the file plus the multipart envelope


class Guard:
    """ASGI middleware: refuses request bodies over `max_body` bytes with 413 before any parsing, and adds
    the security headers to every response."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
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
