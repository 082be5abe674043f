"""The OpenAI Realtime API's wire format (the GA event names), as omni speaks it: the session's
settings and how they map onto a pipeline, the items and responses it reports, the errors.

Nothing here runs a session (omni.serve.realtime.session does); this is data in and data out."""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omni.config import PipelineConfig
from omni.config.loader import apply_override
from omni.strings import json_depth

RATE = 24000
"""PCM16 mono at 24 kHz: the Realtime API's `audio/pcm` (the only rate it defines)."""
PCM = {"type": "audio/pcm", "rate": RATE}
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"})
"""OpenAI's own voice names: a client sends one by habit; the pipeline's voice speaks."""
EAGERNESS = {"low": (0.85, 2000), "high": (0.5, 800)}
"""semantic_vad eagerness -> (end-of-turn threshold, max_silence_ms); medium and auto keep the pipeline's."""
MAX_DEPTH = 32
"""An event nested deeper is refused before it is parsed (no Realtime event nests past 6)."""
MAX_AUDIO_BYTES = 15 * 1024 * 1024
"""One append's audio, decoded (the Realtime API's own limit)."""
NEVER_MS = 3_600_000
"""A silence that never comes: with turn detection off, only the client's commit ends a turn."""


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


# settings ---------------------------------------------------------------------------------------
@dataclass
class Settings:
    """A session's settings as the client sees them (session.created / session.updated)."""

    modalities: list[str] = field(default_factory=lambda: ["audio"])
    instructions: str = ""
    turn_detection: dict[str, Any] | None = None
    voice: str = ""
    speed: float = 1.0
    tool_choice: str = "auto"
    max_output_tokens: int | str = "inf"
    transcription: dict[str, Any] | None = None
    noise_reduction: dict[str, Any] | None = None

    @property
    def audio(self) -> bool:
        return "audio" in self.modalities

    def as_json(self, tools: list[dict[str, Any]], model: str) -> dict[str, Any]:
        return {
            "type": "realtime", "object": "realtime.session", "model": model,
            "output_modalities": list(self.modalities), "instructions": self.instructions,
            "audio": {"input": {"format": dict(PCM), "transcription": self.transcription,
                                "noise_reduction": self.noise_reduction, "turn_detection": self.turn_detection},
                      "output": {"format": dict(PCM), "voice": self.voice, "speed": self.speed}},
            "tools": tools, "tool_choice": self.tool_choice, "max_output_tokens": self.max_output_tokens,
        }


def default_turn_detection(cfg: PipelineConfig) -> dict[str, Any]:
    """What the pipeline does, in the API's terms: its end-of-turn model is `semantic_vad`,
    silence alone `server_vad`."""
    vad = _vad_options(cfg)
    if vad.get("end_of_turn"):
        return {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}
    return {"type": "server_vad", "threshold": vad.get("threshold", 0.5), "prefix_padding_ms": vad.get("speech_pad_ms", 120),
            "silence_duration_ms": vad.get("min_silence_ms", 400), "create_response": True, "interrupt_response": True,
            "idle_timeout_ms": None}


def _vad_options(cfg: PipelineConfig) -> dict[str, Any]:
    stage = next((s for s in cfg.stages if s.kind.startswith("vad.")), None)
    return stage.options if stage is not None else {}


def _vad_name(cfg: PipelineConfig) -> str:
    stage = next((s for s in cfg.stages if s.kind.startswith("vad.")), None)
    if stage is None:
        raise ClientError(f"pipeline {cfg.name} has no voice activity stage: turn detection cannot change",
                          code="unsupported", param="session.audio.input.turn_detection")
    return stage.name


def check_turn_detection(td: Any) -> dict[str, Any] | None:
    """The client's turn_detection, checked and with its defaults filled in."""
    where = "session.audio.input.turn_detection"
    if td is None:
        return None
    if not isinstance(td, dict) or td.get("type") not in ("server_vad", "semantic_vad"):
        raise ClientError("turn_detection is null, {\"type\": \"server_vad\", ...} or {\"type\": \"semantic_vad\", ...}",
                          param=where)
    out = dict(td)
    if out.get("create_response", True) is False:
        raise ClientError("create_response: false is not supported: omni answers each turn it ends "
                          "(set turn_detection to null and commit yourself to decide when a turn ends)",
                          code="unsupported", param=f"{where}.create_response")
    if out.get("idle_timeout_ms") is not None:
        raise ClientError("idle_timeout_ms is not supported", code="unsupported", param=f"{where}.idle_timeout_ms")
    if not isinstance(out.get("interrupt_response", True), bool):
        raise ClientError("interrupt_response must be true or false", param=f"{where}.interrupt_response")
    out.setdefault("create_response", True)
    out.setdefault("interrupt_response", True)
    if out["type"] == "server_vad":
        for key, lo, hi in (("threshold", 0.01, 0.99), ("silence_duration_ms", 0, 10_000),
                            ("prefix_padding_ms", 0, 1000)):
            v = out.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi):
                raise ClientError(f"{key} must be a number from {lo} to {hi}", param=f"{where}.{key}")
        out.setdefault("threshold", 0.5)
        out.setdefault("silence_duration_ms", 500)
        out.setdefault("prefix_padding_ms", 300)
        out.setdefault("idle_timeout_ms", None)
    else:
        if out.setdefault("eagerness", "auto") not in ("low", "medium", "high", "auto"):
            raise ClientError("eagerness is low, medium, high or auto", param=f"{where}.eagerness")
    return out


def pipeline_for(cfg: PipelineConfig, td: dict[str, Any] | None) -> PipelineConfig:
    """The pipeline with the client's turn detection (same engines, so a session of it loads nothing):
    server_vad ends turns on silence alone, semantic_vad with the end-of-turn model (eagerness
    moves its threshold and longest wait), null only on the client's commit. interrupt_response
    false makes the VAD half duplex: speech while the assistant is audible is not heard."""
    if td == default_turn_detection(cfg):
        return cfg
    vad = _vad_name(cfg)
    data = copy.deepcopy(cfg.model_dump(mode="json"))
    own = _vad_options(cfg).get("end_of_turn")

    def put(key: str, value: Any) -> None:
        apply_override(data, (f"{vad}.{key}", value))

    if td is None:
        put("end_of_turn", None)
        put("min_silence_ms", NEVER_MS)
        put("max_utterance_s", 120)
        put("half_duplex", True)
    elif td["type"] == "server_vad":
        put("end_of_turn", None)
        put("threshold", td["threshold"])
        put("min_silence_ms", int(td["silence_duration_ms"]))
        put("speech_pad_ms", min(int(td["prefix_padding_ms"]), 300))
    else:
        eot = dict(own or {})
        if td["eagerness"] in EAGERNESS:
            eot["threshold"], eot["max_silence_ms"] = EAGERNESS[td["eagerness"]]
        put("end_of_turn", eot)
    if td is not None and not td["interrupt_response"]:
        put("half_duplex", True)
    return PipelineConfig.model_validate(data)


def audio_format(fmt: Any, where: str) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "audio/pcm" or fmt.get("rate", RATE) != RATE:
        raise ClientError("omni takes and gives audio/pcm at 24000 Hz (PCM16 mono, little-endian)",
                          code="unsupported", param=where)


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
