"""The OpenAI Realtime API's wire format (the GA event names), as omni speaks it: the items and
responses it reports, the audio, the errors (the session's settings: omni.serve.realtime.settings).

Nothing here runs a session (omni.serve.realtime.session does); this is data in and data out."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import secrets
from typing import Any

import numpy as np

from omni.strings import json_depth

RATE = 24000
"""PCM16 mono at 24 kHz: the Realtime API's `audio/pcm` (the only rate it defines)."""
PCM = {"type": "audio/pcm", "rate": RATE}
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"})
"""OpenAI's own voice names: a client sends one by habit; the pipeline's voice speaks."""
MAX_DEPTH = 32
"""An event nested deeper is refused before it is parsed (no Realtime event nests past 6)."""
MAX_AUDIO_BYTES = 15 * 1024 * 1024
"""One append's audio, decoded (the Realtime API's own limit)."""


class ClientError(Exception):
    """A client event omni cannot act on: becomes an `error` event, and the session goes on."""

    def __init__(self, message: str, code: str = "invalid_value", param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message, self.code, self.param, self.kind = message, code, param, kind


class Ids:
    """Ids unique to one connection, in OpenAI's forms (event_..., item_..., resp_...)."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(4)
        self._n = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self.tag}{next(self._n):05d}"


# audio ------------------------------------------------------------------------------------------
def pcm_in(b64: Any) -> np.ndarray:
    """An append's base64 PCM16 -> int16 samples."""
    if not isinstance(b64, str):
        raise ClientError("audio must be base64 text of PCM16 at 24 kHz", param="audio")
    if len(b64) > MAX_AUDIO_BYTES * 4 // 3 + 4:
        raise ClientError(f"one append takes at most {MAX_AUDIO_BYTES // 2**20} MiB of audio", code="too_large",
                          param="audio")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError("audio is not valid base64", param="audio") from None
    if len(raw) % 2:
        raise ClientError("audio has an odd number of bytes: PCM16 has two per sample", param="audio")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def pcm_out(audio: np.ndarray) -> str:
    """float32 in [-1, 1] -> base64 PCM16."""
    return base64.b64encode((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()).decode()


# items and responses ----------------------------------------------------------------------------
def user_item(item_id: str, *, text: str | None = None, transcript: str | None = None,
              status: str = "completed") -> dict[str, Any]:
    part = {"type": "input_text", "text": text} if text is not None else {"type": "input_audio", "transcript": transcript}
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": status, "role": "user",
            "content": [part]}


def assistant_item(item_id: str, *, audio: bool, text: str = "", status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_audio", "transcript": text} if audio else {"type": "output_text", "text": text}
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": status, "role": "assistant",
            "content": [part]}


def system_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "system",
            "content": [{"type": "input_text", "text": text}]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "function_call", "status": status, "name": name,
            "call_id": call_id, "arguments": arguments}


def response_json(rid: str, *, status: str, output: list[dict[str, Any]], audio: bool, voice: str,
                  conversation_id: str, max_output_tokens: int | str, details: dict[str, Any] | None = None,
                  usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": rid, "object": "realtime.response", "status": status, "status_details": details,
            "output": output, "conversation_id": conversation_id,
            "output_modalities": ["audio"] if audio else ["text"], "max_output_tokens": max_output_tokens,
            "audio": {"output": {"format": dict(PCM), "voice": voice}}, "usage": usage, "metadata": None}


def error_event(err: ClientError, event_id: str | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": err.kind, "code": err.code, "message": err.message,
                                       "param": err.param, "event_id": event_id}}


def text_of(item: dict[str, Any], where: str) -> tuple[str, str | None]:
    """A client's message item -> (role, its text) or (role, None) for an audio part (base64)."""
    role = item.get("role")
    content = item.get("content")
    if role not in ("user", "assistant", "system"):
        raise ClientError("a message item's role is user, assistant or system", param=f"{where}.role")
    if not isinstance(content, list) or not content or not all(isinstance(p, dict) for p in content):
        raise ClientError("a message item's content is a list of parts", param=f"{where}.content")
    texts: list[str] = []
    for i, p in enumerate(content):
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text") and isinstance(p.get("text"), str):
            texts.append(p["text"])
        elif kind in ("output_audio",) and isinstance(p.get("transcript"), str):
            texts.append(p["transcript"])
        elif kind == "input_audio" and role == "user" and len(content) == 1:
            return role, None
        else:
            raise ClientError(f"content part of type {kind!r} is not supported here (text parts, or one "
                              "input_audio part)", code="unsupported", param=f"{where}.content[{i}]")
    return role, " ".join(t.strip() for t in texts if t.strip())


def parse(raw: str | bytes | None) -> dict[str, Any]:
    if raw is None:
        raise ClientError("send events as JSON text frames", code="invalid_json")
    if json_depth(raw, MAX_DEPTH + 1) > MAX_DEPTH:
        raise ClientError(f"the event nests more than {MAX_DEPTH} deep", code="invalid_json")
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ClientError("the event is not JSON", code="invalid_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ClientError("an event is a JSON object with a \"type\"", code="invalid_event", param="type")
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise ClientError("event_id must be text", param="event_id")
    return event
