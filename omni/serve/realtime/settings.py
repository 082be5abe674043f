"""A Realtime session's settings: what the client sets with session.update, checked, and how
they map onto a pipeline (turn detection onto the VAD's options, voice and speed onto the TTS's,
max_output_tokens and tool_choice onto the dialogue's). Data in, data out: the session
(omni.serve.realtime.session) applies what comes out."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from omni.config import PipelineConfig
from omni.config.loader import apply_override
from omni.serve.realtime.protocol import OPENAI_VOICES, PCM, RATE, ClientError

EAGERNESS = {"low": (0.85, 2000), "high": (0.5, 800)}
"""semantic_vad eagerness -> (end-of-turn threshold, max_silence_ms); medium and auto keep the pipeline's."""
NEVER_MS = 3_600_000
"""A silence that never comes: with turn detection off, only the client's commit ends a turn."""


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
    moves its threshold and longest wait), null only on the client's commit (and every turn is
    answered: nothing committed is taken for words said to someone else). interrupt_response
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
        # the client commits each turn (push to talk): what it commits is said to omni
        for s in cfg.stages:
            if s.kind == "dialogue":
                apply_override(data, (f"{s.name}.quiet_to_others", False))
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


def updated(old: Settings, s: Any, tools: set[str]) -> Settings:
    """The settings after a session.update's `session` object `s`, every value checked (a
    ClientError names the first wrong one); `tools` are the names of the session's own tools."""
    if not isinstance(s, dict):
        raise ClientError("session.update needs a \"session\" object", param="session")
    if s.get("type", "realtime") != "realtime":
        raise ClientError("omni serves realtime sessions (type \"realtime\"); for transcription alone "
                          "use POST /v1/audio/transcriptions", code="unsupported", param="session.type")
    new = dataclasses.replace(old)
    audio = s.get("audio") or {}
    inp = audio.get("input") or {} if isinstance(audio, dict) else None
    outp = audio.get("output") or {} if isinstance(audio, dict) else None
    if not all(isinstance(x, dict) for x in (audio, inp, outp)):
        raise ClientError("session.audio, .input and .output are objects", param="session.audio")
    assert isinstance(inp, dict) and isinstance(outp, dict)
    if "output_modalities" in s:
        mods = s["output_modalities"]
        if not isinstance(mods, list) or not mods or not all(m in ("audio", "text") for m in mods):
            raise ClientError("output_modalities is [\"audio\"] or [\"text\"]", param="session.output_modalities")
        new.modalities = ["audio"] if "audio" in mods else ["text"]
    if "instructions" in s:
        if not isinstance(s["instructions"], str):
            raise ClientError("instructions must be text", param="session.instructions")
        new.instructions = s["instructions"]
    audio_format(inp.get("format"), "session.audio.input.format")
    audio_format(outp.get("format"), "session.audio.output.format")
    if "turn_detection" in inp:
        new.turn_detection = check_turn_detection(inp["turn_detection"])
    if "transcription" in inp:
        new.transcription = inp["transcription"]
    if "noise_reduction" in inp:
        new.noise_reduction = inp["noise_reduction"]
    if "voice" in outp:
        voice = outp["voice"]
        voice = voice.get("id") if isinstance(voice, dict) else voice
        if not isinstance(voice, str) or not voice:
            raise ClientError("voice is a voice's name", param="session.audio.output.voice")
        new.voice = old.voice if voice in OPENAI_VOICES else voice
    if "speed" in outp:
        speed = outp["speed"]
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 1.5:
            raise ClientError("speed is a number from 0.25 to 1.5", param="session.audio.output.speed")
        new.speed = float(speed)
    asked = s.get("tools")
    if asked and not (isinstance(asked, list) and all(isinstance(t, dict) and t.get("name") in tools for t in asked)):
        raise ClientError("omni offers the pipeline's own tools (see session.tools: its device actions and "
                          "built-in tools, run by omni, reported as function calls); tools of the "
                          "client's are not supported (the session's own, sent back, are fine)",
                          code="unsupported", param="session.tools")
    if "tool_choice" in s:
        if s["tool_choice"] not in ("auto", "none"):
            raise ClientError("tool_choice is auto or none", code="unsupported", param="session.tool_choice")
        new.tool_choice = s["tool_choice"]
    if "max_output_tokens" in s:
        m = s["max_output_tokens"]
        if m != "inf" and (isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 4096):
            raise ClientError("max_output_tokens is 1 to 4096 or \"inf\"", param="session.max_output_tokens")
        new.max_output_tokens = m
    return new
