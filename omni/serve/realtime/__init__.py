"""The OpenAI Realtime API at `/v1/realtime` (WebSocket, the GA event names): see docs/serve.md.

`route` adds it to the server's app; each connection is a RealtimeSession (omni.serve.realtime.session)
on its own Conversation, the engines shared. Beyond `max_sessions` at once a client is told
"busy" (an `error` event with code `session_limit`, then close code 1013: try again later)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, WebSocket

from omni.serve.realtime.protocol import ClientError, error_event
from omni.serve.realtime.session import RealtimeSession
from omni.app.prometheus import Stats
from omni.transports.base import SessionFactory

log = logging.getLogger(__name__)
KEY_PROTOCOL = "openai-insecure-api-key."
"""A browser cannot set headers on a WebSocket: it may send the token as this subprotocol (as
OpenAI's own browser clients do) if the user typed it in; the page is never given one."""


def route(app: FastAPI, sessions: SessionFactory, stats: Stats, *, model: str, max_sessions: int,
          refused: Callable[[WebSocket], str | None]) -> None:
    active = 0

    @app.websocket("/v1/realtime")
    async def realtime(ws: WebSocket) -> None:
        nonlocal active
        why = refused(ws)
        if why is not None:  # before accept: the client gets HTTP 403
            stats.realtime_sessions.labels("refused").inc()
            log.info("realtime: refused a connection: %s", why, extra={"stage": "realtime"})
            await ws.close(code=1008, reason=why[:120])
            return
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        chosen = "realtime" if "realtime" in offered else None  # never the key's: it would echo the token
        if active >= max_sessions:
            await ws.accept(subprotocol=chosen)
            stats.realtime_sessions.labels("busy").inc()
            await ws.send_json({"type": "error", "event_id": "event_busy", **{k: v for k, v in error_event(ClientError(
                f"busy: {max_sessions} sessions are open, the most this server takes (--max-sessions)",
                code="session_limit", kind="server_error"), None).items() if k != "type"}})
            await ws.close(code=1013, reason="busy: try again later")
            return
        active += 1
        try:
            await ws.accept(subprotocol=chosen)
            await RealtimeSession(ws, sessions, stats, model=model,
                                  omni_events=ws.query_params.get("omni_events") == "1").run()
        finally:
            active -= 1
