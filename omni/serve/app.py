"""The HTTP app: the routes that are not a protocol of their own, the token check and the counts.

`/healthz` (open to all: a load balancer's probe), `/metrics` (Prometheus), `/` (what is here),
and the OpenAI REST routes of omni.serve.rest. With a token, every other route wants
`Authorization: Bearer TOKEN` (Prometheus sends it with `authorization: {credentials: ...}`)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from omni.serve.rest import error, routes
from omni.serve.stats import Stats
from omni.transports.base import SessionFactory

OPEN = frozenset({"/healthz"})


def make_app(sessions: SessionFactory, stats: Stats, *, token: str | None, sessions_open: Callable[[], int]) -> FastAPI:
    cfg = sessions.cfg
    app = FastAPI(title="omni", summary=cfg.description or cfg.name, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if token is not None and path not in OPEN:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                stats.requests.labels(path if path in KNOWN else "other", "401").inc()
                return error(401, "this server wants a token: Authorization: Bearer TOKEN",
                             "authentication_error")
        response = await call_next(request)
        stats.requests.labels(path if path in KNOWN else "other", str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ready", "pipeline": cfg.name, "sessions_open": sessions_open(),
                "engines": [e["kind"] for e in sessions.engines.summary()]}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(stats.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"omni": cfg.name, "routes": sorted(KNOWN)}

    app.include_router(routes(sessions.calls, stats, model=f"omni-{cfg.name}"))
    return app


KNOWN = frozenset({"/", "/healthz", "/metrics", "/v1/models", "/v1/chat/completions"})
"""Routes counted by name in omni_http_requests (anything else is "other": no label per URL)."""
