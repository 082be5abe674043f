"""Which engine a stage's `engine` option names: a built-in, or `package.module:Class`."""

from __future__ import annotations

import importlib
from typing import Any

from omni.errors import ConfigError

BUILTIN: dict[str, dict[str, str]] = {
    "stt": {"faster-whisper": "omni.engines.whisper:FasterWhisper"},
    "vad": {"silero": "omni.engines.silero:SileroVad"},
    "turn": {"smart-turn": "omni.engines.smart_turn:SmartTurn"},
    "tts": {"piper": "omni.engines.piper:PiperVoice"},
    "aec": {"webrtc": "omni.engines.aec:WebRtcAec", "speex": "omni.engines.aec:SpeexAec"},
    "wake": {"micro-wakeword": "omni.engines.micro_wakeword:MicroWakeWordDetector"},
}
"""Engine kind -> name -> where its class lives."""

NEEDS: dict[str, tuple[str, ...]] = {
    "stt": ("transcribe", "spare"), "vad": ("reset", "probs"), "turn": ("predict",),
    "tts": ("synthesize", "configure"), "aec": ("process",), "wake": ("detect",),
}


def engine_class(kind: str, name: str) -> Any:
    """The class of engine `name` for a stage of `kind` (ConfigError if there is none, or it
    lacks what a `kind` engine must have: omni.engines.base)."""
    where = BUILTIN.get(kind, {}).get(name, name)
    if ":" not in where:
        known = ", ".join(sorted(BUILTIN.get(kind, {})))
        raise ConfigError(f"unknown {kind} engine {name!r}", hint=f"built in: {known}; or package.module:Class")
    module, _, attr = where.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{kind} engine {name!r}: cannot import {where} ({e})") from e
    missing = [m for m in ("load", *NEEDS[kind]) if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(f"{kind} engine {name!r} ({where}) lacks {', '.join(missing)}",
                          hint="see omni/engines/base.py for what an engine of this kind has")
    return cls
