"""ASGI middleware in front of the app: the Host and Origin checks, a body-size limit enforced before any parsing,
and security headers.

Only the host names the server answers to are served (others get 400): a page on another site that points its
own name at 127.0.0.1 (DNS rebinding) then cannot read the runs. API requests that a browser marks as coming from
another site (Origin, Sec-Fetch-Site) are refused with 403.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from latentlab.images import MAX_UPLOAD_BYTES

# The page loads only its own files and draws images from data: URLs and in-page canvases.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                  b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
MAX_BODY = MAX_UPLOAD_BYTES + 64 * 1024  # the file plus the multipart envelope
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")


def served_hosts(host: str = "127.0.0.1", extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names (lower case, no port) a server listening on `host` answers to: this machine's loopback names,
    `host` itself, and `extra` (the user's --allow-host; "*" answers any). Listening on every interface (0.0.0.0,
    ::), the machine's own name and addresses are added too."""
    names = {*LOCAL_HOSTS, host.strip("[]").lower(), *(h.strip().strip("[]").lower() for h in extra)}
    if host in ANY_ADDRESS:
        names |= _own_names()
    return frozenset(n for n in names if n)


def _own_names() -> set[str]:
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    # A machine whose name does not resolve: its addresses are then added with --allow-host.
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(socket.gethostname(), None)}
    return names


def host_name(value: str) -> str:
    """The name of a Host header or an Origin's netloc without its port, lower case: "[::1]:8000" -> "::1"."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware: answers only requests whose Host is in `hosts` (400 otherwise; "*" in `hosts` answers
    any), refuses API requests from other sites (403), refuses request bodies over `max_body` bytes with 413
    before any parsing, and adds the security headers to every response."""

    def __init__(self, app: Any, max_body: int, hosts: Iterable[str] = LOCAL_HOSTS) -> None:
        self.app, self.max_body, self.hosts = app, max_body, frozenset(hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = self._refused(scope)
        if refused:
            return await _refuse(send, *refused)

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


    def _refused(self, scope: dict) -> tuple[int, str] | None:
        """(status, why) for a request from a host or site this server does not answer; None to serve it."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if "*" not in self.hosts and host_name(host) not in self.hosts:
            return 400, (f"this server does not answer to the host {host!r}; it answers to "
                         f"{', '.join(sorted(self.hosts))}: open one of those, or start `latentlab serve` with "
                         f"--allow-host {host_name(host) or 'NAME'}")
        if not scope["path"].startswith("/api/"):
            return None  # the page and its files hold no data; a link from elsewhere may open them
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site", "")
        if (origin is not None and urlsplit(origin).netloc.lower() != host.lower()) or site in ("cross-site",
                                                                                                 "same-site"):
            return 403, (f"the API answers only its own page: this request came from {origin or 'another site'} "
                         f"(Sec-Fetch-Site: {site or 'not sent'})")
        return None


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


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
