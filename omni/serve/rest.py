"""The OpenAI REST surface a voice app uses: `/v1/models` and `/v1/chat/completions` (streamed or
not, with tools), answered by the pipeline's router: local first, failover, circuit breaker and
cost accounting behind one endpoint. Tool calls are returned to the client, never run here (the
client owns its tools, as with any OpenAI endpoint)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omni.app.calls import Calls
from omni.dialogue.router import AllBackendsFailed, RouteRecord
from omni.dialogue.types import Finished, TextDelta, ToolCallDelta
from omni.errors import OmniError
from omni.strings import json_depth, safe_text
from omni.app.prometheus import Stats

log = logging.getLogger(__name__)


class ChatBody(BaseModel):
    """The fields omni reads; any other field an OpenAI client sends is accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = "omni"
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=2)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None


MAX_DEPTH = 64
"""JSON nested deeper than this is refused before it is parsed (a parse 5,000 deep spends the
interpreter's recursion limit, and a finalizer that runs meanwhile fails)."""


async def read_json(request: Request) -> Any:
    """The request's body as JSON (ValueError if it is not, or nests too deeply)."""
    body = await request.body()
    if json_depth(body, MAX_DEPTH + 1) > MAX_DEPTH:
        raise ValueError(f"the body nests more than {MAX_DEPTH} deep")
    return json.loads(body)


def error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> JSONResponse:
    """OpenAI's error shape, so that its clients raise their own typed errors."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}}, status)


def _messages(body: ChatBody) -> list[dict[str, Any]]:
    """Content given as parts ([{"type": "text", "text": ...}]) is joined into text; roles are checked."""
    out = []
    for i, m in enumerate(body.messages):
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise ValueError(f"messages[{i}].role must be system, user, assistant or tool, not {role!r}")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        elif content is not None and not isinstance(content, str):
            raise ValueError(f"messages[{i}].content must be text or a list of parts")
        out.append(_clean({**m, "role": "system" if role == "developer" else role, "content": content or ""}))
    return out


def _clean(value: Any) -> Any:
    """Every text in a client's structure made printable and encodable (a lone surrogate is not)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _calls_json(calls: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.raw_arguments or json.dumps(c.arguments)}} for c in calls]


async def _offered_only(deltas: AsyncIterator[Any], offered: set[str | None]) -> AsyncIterator[Any]:
    """Tool calls only to the tools the client offered; with none offered, what the model wrote
    as a call (a reply that starts with "{") is its reply, as text."""
    async with contextlib.aclosing(deltas) as it:  # type: ignore[type-var]
        async for d in it:
            if isinstance(d, ToolCallDelta):
                calls = tuple(c for c in d.calls if c.name in offered)
                if calls:
                    yield ToolCallDelta(calls)
                    continue
                text = d.malformed or json.dumps([{"name": c.name, "arguments": c.arguments} for c in d.calls])
                yield TextDelta(text)
                continue
            yield d


def routes(calls: Calls, stats: Stats, model: str) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "omni"}]}

    @api.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        try:
            body = ChatBody.model_validate(await read_json(request))
            messages = _messages(body)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(map(str, err["loc"])) or "body"
            return error(400, f"{loc}: {err['msg']}", param=str(err["loc"][0]) if err["loc"] else None)
        except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError; nested too deep is not
            return error(400, str(e) if isinstance(e, ValueError) and str(e) else "the body is not JSON (or nests too deeply)")
        tools = [] if body.tool_choice == "none" else _clean(body.tools or [])
        offered = {t.get("function", {}).get("name") for t in tools}
        max_tokens = body.max_completion_tokens or body.max_tokens
        rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        rec = RouteRecord()
        t0 = time.monotonic()
        deltas = _offered_only(calls.chat(messages, tools=tools, tool_choice="auto" if tools else "none",
                                          max_tokens=max_tokens, temperature=body.temperature, record=rec), offered)

        def account(finish: str, first: float | None) -> None:
            backend = rec.backend or "none"
            stats.chats.labels(backend, finish).inc()
            if first is not None:
                stats.first_token.labels(backend).observe(first)
            stats.total.labels(backend).observe(time.monotonic() - t0)
            u = rec.usage
            for kind, n in (("prompt", u.prompt_tokens), ("cached", u.cached_tokens), ("completion", u.completion_tokens)):
                stats.tokens.labels(kind).inc(n)
            for a in rec.attempts:
                if a.outcome not in ("answered", "skipped"):
                    stats.failovers.labels(a.backend, a.outcome).inc()
            if rec.cost:
                stats.cost.inc(rec.cost)

        def usage() -> dict[str, int]:
            u = rec.usage
            return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                    "total_tokens": u.prompt_tokens + u.completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": u.cached_tokens}}

        if not body.stream:
            text, tool_calls, finish, first = "", [], "stop", None
            try:
                async with contextlib.aclosing(deltas) as it:
                    async for d in it:
                        if first is None and isinstance(d, (TextDelta, ToolCallDelta)):
                            first = time.monotonic() - t0
                        if isinstance(d, TextDelta):
                            text += d.text
                        elif isinstance(d, ToolCallDelta):
                            tool_calls += _calls_json(d.calls)
                        elif isinstance(d, Finished) and d.usage.finish_reason == "length":
                            finish = "length"
            except AllBackendsFailed as e:
                account("error", first)
                return error(503, str(e), "server_error")
            except OmniError as e:
                account("error", first)
                return error(400, str(e))
            finish = "tool_calls" if tool_calls else finish
            account(finish, first)
            message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_calls else "")}
            if tool_calls:
                message["tool_calls"] = tool_calls
            return {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage(),
                    "omni": {"backend": rec.backend, "route": rec.reason,
                             "attempts": [a.as_dict() for a in rec.attempts], "cost": rec.cost}}

        include_usage = bool((body.stream_options or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            c = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(c)}\n\n"

        # the first delta is awaited before the status goes out: all backends failing is a 503
        head: list[Any] = []
        try:
            async for d in deltas:
                head.append(d)
                if isinstance(d, (TextDelta, ToolCallDelta, Finished)):
                    break
        except AllBackendsFailed as e:
            account("error", None)
            await deltas.aclose()
            return error(503, str(e), "server_error")
        except OmniError as e:
            account("error", None)
            await deltas.aclose()
            return error(400, str(e))

        async def replay() -> AsyncIterator[Any]:
            for d in head:
                yield d
            async for d in deltas:
                yield d

        async def sse() -> AsyncIterator[str]:
            first, finish, n_calls = None, "stop", 0
            yield chunk({"role": "assistant", "content": ""})
            try:
                async with contextlib.aclosing(replay()) as it:
                    async for d in it:
                        if first is None and isinstance(d, (TextDelta, ToolCallDelta)):
                            first = time.monotonic() - t0
                        if isinstance(d, TextDelta) and d.text:
                            yield chunk({"content": d.text})
                        elif isinstance(d, ToolCallDelta):
                            calls_ = _calls_json(d.calls)
                            yield chunk({"tool_calls": [{"index": n_calls + i, **c} for i, c in enumerate(calls_)]})
                            n_calls += len(calls_)
                        elif isinstance(d, Finished) and d.usage.finish_reason == "length":
                            finish = "length"
            except (AllBackendsFailed, OmniError) as e:  # the status went out already: say it in the stream
                account("error", first)
                log.warning("chat completion failed mid-stream: %s", e)
                yield f"data: {json.dumps({'error': {'message': str(e), 'type': 'server_error'}})}\n\n"
                return
            except BaseException:  # the client went away mid-stream: counted, and the model stopped
                account("cancelled", first)
                raise
            finally:
                await deltas.aclose()
            finish = "tool_calls" if n_calls else finish
            account(finish, first)
            yield chunk({}, finish)
            if include_usage:
                yield f"data: {json.dumps({'id': rid, 'object': 'chat.completion.chunk', 'created': created, 'model': model, 'choices': [], 'usage': usage()})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return api
