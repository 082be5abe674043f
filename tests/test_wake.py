"""The wake word gate: it opens on "Hey Jarvis" (the bundled voice says it) and not on other
speech; the assistant answers only what is addressed to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omni.app.run import FileRunOptions, run_files
from omni.app.view import ConsoleView
from omni.audio.io import write_wav
from omni.config import load_pipeline
from omni.frames import InputAudio, PushToTalk, WakeWord
from omni.stages.wake import WakeGate, WakeOptions
from tests.helpers import run_stage, say, silence

pytestmark = pytest.mark.slow


def chunks(audio: np.ndarray, n: int = 512) -> list[InputAudio]:
    return [InputAudio(samples=audio[i:i + n], sample_rate=16000, start=i) for i in range(0, len(audio), n)]


async def gate(audio: np.ndarray, **opts) -> tuple[list[WakeWord], np.ndarray]:
    stage = WakeGate("wake", WakeOptions(mode="wake_word", **opts))
    await stage.load(lambda *_: None)
    try:
        out = await run_stage(stage, chunks(audio))
    finally:
        await stage.aclose()
    heard = np.concatenate([f.samples for f in out if isinstance(f, InputAudio)])
    return [f for f in out if isinstance(f, WakeWord)], heard


async def test_wake_word_opens_the_gate_and_other_speech_does_not() -> None:
    hey = say("Hey Jarvis, what time is it?")
    audio = np.concatenate([silence(0.5), hey, silence(0.5)])
    wakes, heard = await gate(audio)
    assert len(wakes) == 1 and wakes[0].name == "Hey Jarvis" and wakes[0].score > 0.97
    at = wakes[0].at
    assert 0.8 < at / 16000 < 0.5 + len(hey) / 16000 - 0.5  # after "Jarvis", before the question ends
    assert not heard[:at].any()  # nothing before the wake word reaches the pipeline
    assert np.array_equal(heard[at + 512:], audio[at + 512:len(heard)])  # everything after does
    for text in ("What is the capital of France?", "Hey Travis, how are you?", "Alexa, stop."):
        wakes, heard = await gate(np.concatenate([silence(0.3), say(text), silence(0.3)]))
        assert not wakes and not heard.any(), text


async def test_push_to_talk_hears_only_while_the_key_is_down() -> None:
    stage = WakeGate("wake", WakeOptions(mode="push_to_talk", release_ms=0))
    audio = np.full(16000, 0.1, np.float32)
    frames = [*chunks(audio[:4096]), PushToTalk(pressed=True), *chunks(audio[4096:8192]),
              PushToTalk(pressed=False), *chunks(audio[8192:])]
    out = [f for f in await run_stage(stage, frames) if isinstance(f, InputAudio)]
    heard = np.concatenate([f.samples for f in out])
    assert not heard[:4096].any() and (heard[4096:8192] == 0.1).all() and not heard[8192:].any()


async def test_only_what_follows_the_wake_word_is_answered(tmp_path: Path) -> None:
    """A question without the wake word is not a turn; "Hey Jarvis, what time is it?" is."""
    audio = np.concatenate([silence(0.5), say("What is the capital of France?"), silence(8.0),
                            say("Hey Jarvis, what time is it?"), silence(3.0)])
    wav = tmp_path / "in.wav"
    write_wav(wav, audio, 16000)
    cfg = load_pipeline("desktop", ["wake.mode=wake_word", "stt.hold_ms=0"])
    res = await run_files(cfg, FileRunOptions(audio_in=wav, audio_out=tmp_path / "out.wav"), ConsoleView(quiet=True))
    assert len(res.records) == 1, [(r.transcript, r.reply) for r in res.records]
    rec = res.records[0]
    assert "time" in rec.transcript.lower() and "jarvis" not in rec.transcript.lower(), rec.transcript
    assert rec.reply.startswith("It's "), rec.reply


async def test_the_wake_word_is_acknowledged_with_a_chime(tmp_path: Path) -> None:
    audio = np.concatenate([silence(0.5), say("Hey Jarvis."), silence(2.0)])
    wav = tmp_path / "in.wav"
    write_wav(wav, audio, 16000)
    cfg = load_pipeline("desktop", ["wake.mode=wake_word"])
    out = tmp_path / "out.wav"
    await run_files(cfg, FileRunOptions(audio_in=wav, audio_out=out), ConsoleView(quiet=True))
    from tests.helpers import envelope, read_wav
    said, rate = read_wav(out)
    env = envelope(said, rate, 0.01)
    loud = np.flatnonzero(env > 0.05)
    assert len(loud), "no chime"
    t = loud[0] * 0.01
    wakes, _ = await gate(audio)
    assert abs(t - wakes[0].at / 16000) < 0.05 and 0.1 < (loud[-1] - loud[0]) * 0.01 < 0.2
