"""The HTTP app: the routes that are not a protocol of their own, the token check and the counts.

`/healthz` (a load balancer's probe), `/` (the browser page, static/; JSON for a client that
asks for it), `/metrics` (Prometheus), the OpenAI REST routes of omni.serve.rest and .audio,
and the Realtime API of omni.serve.realtime. With a token, every route but the probe and the
page wants `Authorization: Bearer TOKEN` (Prometheus sends it with `authorization: {credentials: ...}`;
a browser's WebSocket sends it as a subprotocol)."""

from __future__ import annotations

import hmac
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from omni.serve import audio, realtime

from omni.net import is_loopback
from omni.serve.rest import error, routes
from omni.app.prometheus import Stats
from omni.transports.base import SessionFactory

OPEN = frozenset({"/healthz", "/"})
"""Open to all even with a token: a load balancer's probe, and the page (it holds no secret: the user types the token in)."""


def make_app(sessions: SessionFactory, stats: Stats, *, token: str | None, sessions_open: Callable[[], int],
             max_sessions: int = 4) -> FastAPI:
    cfg = sessions.cfg
    app = FastAPI(title="omni", summary=cfg.description or cfg.name, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        route = path if path in KNOWN else "/static" if path.startswith("/static/") else "other"
        refused = _refused(request, token)
        if refused is not None:
            stats.requests.labels(route, str(refused.status_code)).inc()
            return refused
        response = await call_next(request)
        stats.requests.labels(route, str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ready", "pipeline": cfg.name, "sessions_open": sessions_open(),
                "engines": [e["kind"] for e in sessions.engines.summary()]}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(stats.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_model=None)
    async def index(request: Request) -> Any:
        """The browser page; a client that wants JSON gets what is here."""
        if "text/html" not in request.headers.get("accept", ""):
            return {"omni": cfg.name, "routes": sorted(KNOWN), "page": "/ (text/html)"}
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.include_router(routes(sessions.calls, stats, model=f"omni-{cfg.name}"))
    app.include_router(audio.routes(sessions.calls, stats))
    realtime.route(app, sessions, stats, model=f"omni-{cfg.name}", max_sessions=max_sessions,
                   refused=lambda ws: ws_refused(ws, token))
    return app


def _host_of(headers: Any) -> str:
    raw = headers.get("host", "")
    return raw[: raw.find("]") + 1] if raw.startswith("[") else raw.split(":")[0]


def ws_refused(ws: WebSocket, token: str | None) -> str | None:
    """Why this WebSocket is not served, or None. With a token: `Authorization: Bearer TOKEN`,
    or the subprotocol `openai-insecure-api-key.TOKEN` (a browser's only way). Without one: the
    Host must be this machine, and a page's Origin too (a site the user has open cannot talk
    to the server: browsers do not apply CORS to WebSockets)."""
    if token is None:
        if not is_loopback(_host_of(ws.headers)):
            return "the Host is not this machine; serving off loopback needs --token-env"
        origin = ws.headers.get("origin")
        if origin is not None:
            host = urlsplit(origin).hostname or ""
            if not is_loopback(host):
                return f"a page from {origin[:80]} may not use this server"
        return None
    scheme, _, given = ws.headers.get("authorization", "").partition(" ")
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    keys = [p[len(realtime.KEY_PROTOCOL):] for p in offered if p.startswith(realtime.KEY_PROTOCOL)]
    candidates = ([given.strip()] if scheme.lower() == "bearer" else []) + keys
    if not any(hmac.compare_digest(c.encode(), token.encode()) for c in candidates):
        return "this server wants a token: Authorization: Bearer TOKEN"
    return None


def _refused(request: Request, token: str | None) -> Response | None:
    """Why this request is not served, or None.

    - With a token, every route but the health probe wants it (`Authorization: Bearer TOKEN`).
    - Without one (loopback only), the Host header must name this machine too: a web page the
      user has open cannot reach the server by pointing a name of its own at 127.0.0.1.
    - A POST must say it is JSON (a page's form cannot post JSON without a CORS preflight), but
      for a file upload; and a page of another site (its Origin) is refused outright."""
    if token is None:
        host = _host_of(request.headers)
        if not is_loopback(host):
            return error(403, f"Host {host!r} is not this machine; serving off loopback needs --token-env",
                         "permission_error")
        origin = request.headers.get("origin")
        if origin is not None and not is_loopback(urlsplit(origin).hostname or ""):  # "null" too: a sandboxed page
            return error(403, "a page of another site may not use this server", "permission_error")
    elif request.url.path not in OPEN and not request.url.path.startswith("/static/"):
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            r = error(401, "this server wants a token: Authorization: Bearer TOKEN", "authentication_error")
            r.headers["WWW-Authenticate"] = 'Bearer realm="omni"'
            return r
    kind = request.headers.get("content-type", "")
    if request.method == "POST" and "json" not in kind and not (
            request.url.path in FORMS and kind.startswith("multipart/form-data")):
        return error(415, "send the body as JSON (Content-Type: application/json)" if request.url.path not in FORMS
                     else "send the file as multipart/form-data")
    return None


STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                           "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"}
"""The page runs only its own script, talks only to this server, and is never framed by another site."""

KNOWN = frozenset({"/", "/healthz", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/realtime",
                   "/v1/audio/transcriptions", "/v1/audio/speech"})
FORMS = frozenset({"/v1/audio/transcriptions"})
"""POSTs that take a file upload (multipart/form-data) rather than JSON."""
"""Routes counted by name in omni_http_requests (anything else is "other": no label per URL)."""
