"""Test helpers: sample audio, levels, running one stage, transcribing what omni said."""

from __future__ import annotations

import re
import wave
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import numpy as np

from omni.frames import EndOfStream, Frame
from omni.runtime import Pipeline, Stage

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
CONVERSATION = ASSETS / "conversation.wav"


def conversation_script() -> list[tuple[float, float, str]]:
    """(start_s, end_s, text) of each user turn in assets/conversation.wav."""
    rows = (ASSETS / "conversation.txt").read_text().strip().splitlines()[1:]
    return [(float(a), float(b), t) for a, b, t in (r.split("\t") for r in rows)]


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        rate = wf.getframerate()
        x = np.frombuffer(wf.readframes(wf.getnframes()), "<i2").astype(np.float32) / 32768.0
    return x, rate


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def run_stage(stage: Stage, frames: Iterable[Frame], *, eos: bool = True) -> list[Frame]:
    """Run one stage on frames (plus EndOfStream) and collect what it emits."""
    out: list[Frame] = []

    class Collect:
        def on_frame(self, name: str, frame: Frame) -> None:
            if name == stage.name:
                out.append(frame)

    async def source() -> AsyncIterator[Frame]:
        for f in frames:
            yield f
        if eos:
            yield EndOfStream()

    await Pipeline([stage], observers=[Collect()]).run(source())
    return out


_whisper = None


def transcribe(audio: np.ndarray, rate: int) -> str:
    """Transcribe with the bundled whisper (for checking what omni said)."""
    global _whisper
    from faster_whisper import WhisperModel

    from omni.audio import resample
    from omni.models import resolve

    if _whisper is None:
        _whisper = WhisperModel(resolve("stt", "tiny.en").location, device="cpu",
                                compute_type="int8", cpu_threads=2)
    segs, _ = _whisper.transcribe(resample(audio, rate, 16000), beam_size=1, language="en")
    return " ".join(s.text for s in segs)
