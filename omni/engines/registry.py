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


async def pooled(pool: Any, kind: str, options: Any, stage_only: frozenset[str], progress: Any,
                 user: str = "", stateful: bool = False) -> Any:
    """The process's engine of `kind` for these stage options (omni.runtime.engines), loaded on
    first use; options in `stage_only` are the stage's and not part of the key. A `stateful`
    engine whose class cannot `fork` gets a copy of its own (its state cannot be split from
    its model)."""
    from omni.runtime.engines import options_key, own_key

    cls = engine_class(kind, options.engine)
    key: Any = options_key(options, stage_only)
    if stateful and not callable(getattr(cls, "fork", None)):
        key = own_key(key)
    return await pool.get(kind, key, lambda p: cls.load(options, p), progress, user=user)
