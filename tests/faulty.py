"""The real engines with a fault injected: the first call that does real work raises, as a model
that runs out of memory or hits a bug would, inside a turn. Named in a pipeline as
`faulty:FaultyWhisper` (STT), `faulty:FaultyPiper` (TTS) and a chat backend
`{type: custom, cls: "faulty:FaultyLlama", settings: {...the local model's options...}}`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np

from omni.dialogue.backends.local import LlamaBackend, LlamaBackendOptions
from omni.dialogue.types import ChatRequest, Delta, TextDelta
from omni.engines.piper import PiperVoice
from omni.engines.whisper import FasterWhisper

FAULTS = {"stt": 0, "tts": 0, "llm": 0}
"""How many more calls of each kind fail (a test sets it; every engine here reads it)."""
RAISED: list[str] = []


def fault(kind: str) -> None:
    if FAULTS[kind] > 0:
        FAULTS[kind] -= 1
        RAISED.append(kind)
        raise RuntimeError(f"{kind} engine fell over (an injected fault)")


class FaultyWhisper(FasterWhisper):
    def transcribe(self, audio: np.ndarray) -> tuple[str, str | None]:
        if audio.size and float(np.sqrt(np.mean(np.square(audio)))) > 0.01:  # not the warm-up's zeros
            fault("stt")
        return super().transcribe(audio)


class FaultyPiper(PiperVoice):
    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        if text != "Ready.":  # not the warm-up
            fault("tts")
        yield from super().synthesize(text)


class FaultyLlama(LlamaBackend):
    """The local model; fails after its first words of a reply."""

    def __init__(self, name: str, options: Any) -> None:
        super().__init__(name, LlamaBackendOptions(type="llama.cpp", **options.settings))

    async def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        async with contextlib.aclosing(super().stream(req)) as deltas:
            async for d in deltas:
                yield d
                if isinstance(d, TextDelta) and d.text.strip():
                    fault("llm")
