"""Test helpers: sample audio, levels, running one stage, transcribing what omni said."""

from __future__ import annotations

import asyncio
import re
import wave
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import numpy as np

from omni.dialogue.backends.base import BackendOptions, ChatBackend
from omni.dialogue.types import ChatRequest, Delta, Finished, Started, TextDelta, ToolCall, ToolCallDelta, Usage
from omni.frames import EndOfStream, Frame, InputAudio, Utterance
from omni.runtime import Stage
from omni.stages.vad import SileroVAD, SileroVADOptions

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


def similar(heard: str, text: str) -> float:
    """How close two texts are, letters only (0..1, difflib's ratio): "the kitchen lights as on"
    is 0.94 to "The kitchen light is on.", "The front door is locked." 0.47."""
    import difflib

    def letters(s: str) -> str:
        return " ".join(re.findall(r"[a-z']+", s.lower()))

    return difflib.SequenceMatcher(None, letters(heard), letters(text)).ratio()


async def run_stage(stage: Stage, frames: Iterable[Frame], *, eos: bool = True) -> list[Frame]:
    """Run one stage on frames (plus EndOfStream) and collect what it emits (the frames it
    made and those it passed on)."""
    out: list[Frame] = []

    async def source() -> AsyncIterator[Frame]:
        for f in frames:
            yield f
        if eos:
            yield EndOfStream()

    async for f in stage.run(source()):  # everything it emits, its error events too, in order
        out.append(f)
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


def corpus(name: str, rate: int = 16000) -> np.ndarray:
    """A bench corpus utterance (bench/corpus/NAME.wav) as float32 at `rate`."""
    from omni.audio import read_audio

    return read_audio(ROOT / "bench" / "corpus" / f"{name}.wav", rate).samples


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


_voice = None


def say(text: str, rate: int = 16000) -> np.ndarray:
    """`text` spoken by the bundled piper voice, trimmed of silence, at `rate`."""
    global _voice
    from piper import PiperVoice

    from omni.audio import resample
    from omni.models import resolve

    if _voice is None:
        path = resolve("tts", "joe").location
        _voice = PiperVoice.load(path, config_path=path + ".json")
    from piper import SynthesisConfig

    # no sampling noise: the same words give the same audio, run after run
    syn = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    a = np.concatenate([c.audio_float_array for c in _voice.synthesize(text, syn_config=syn)]).astype(np.float32)
    a = resample(a, _voice.config.sample_rate, rate)
    loud = np.flatnonzero(np.abs(a) > 0.01)
    return a[loud[0]: loud[-1] + 1]


def envelope(audio: np.ndarray, rate: int, frame_s: float = 0.05) -> np.ndarray:
    """RMS per `frame_s` frame."""
    f = max(1, int(rate * frame_s))
    n = len(audio) // f
    return np.sqrt(np.mean(np.square(audio[: n * f].reshape(n, f)), axis=1))


def with_pause(audio: np.ndarray, pause_s: float, rate: int = 16000,
               between: tuple[float, float] = (0.35, 0.65)) -> np.ndarray:
    """`audio` with `pause_s` of silence inserted at its quietest 20 ms `between` those
    fractions of its length (between two words of a sentence spoken in one breath)."""
    f = rate // 50
    n = len(audio) // f
    e = np.sqrt(np.mean(np.square(audio[: n * f].reshape(n, f)), axis=1))
    lo, hi = int(n * between[0]), int(n * between[1])
    cut = (lo + int(np.argmin(e[lo:hi]))) * f + f // 2
    return np.concatenate([audio[:cut], silence(pause_s, rate), audio[cut:]])


def pause_after(audio: np.ndarray, word: str, pause_s: float, rate: int = 16000) -> np.ndarray:
    """`audio` with `pause_s` of silence inserted between `word` (its first occurrence, found
    with whisper's word timings) and the next word: a mid-sentence hesitation."""
    from omni.audio import resample

    transcribe(audio[:1600], rate)  # loads the model
    segs, _ = _whisper.transcribe(resample(audio, rate, 16000), beam_size=1, language="en",
                                  word_timestamps=True)
    ws = [w for s in segs for w in s.words]
    for i, w in enumerate(ws[:-1]):
        if re.sub(r"[^a-z']", "", w.word.lower()) == word.lower():
            cut = int((w.end + ws[i + 1].start) / 2 * rate)
            return np.concatenate([audio[:cut], silence(pause_s, rate), audio[cut:]])
    raise ValueError(f"{word!r} not heard in {[w.word for w in ws]}")


class Scripted(ChatBackend):
    """A chat backend that replays scripted replies, one per request (a fake for the model);
    `done` is set each time a reply has been streamed to its end."""

    continues = False

    def __init__(self, replies: list[str | ToolCall]) -> None:
        super().__init__("local", BackendOptions())
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []
        self.done = asyncio.Event()

    async def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        self.requests.append(req)
        r = self.replies.pop(0)
        yield Started()
        if isinstance(r, ToolCall):
            yield ToolCallDelta(calls=(r,))
        else:
            for w in r.split(" "):
                yield TextDelta(w + " ")
        yield Finished(Usage())
        self.done.set()


VOICES = ("en-us", "en-gb", "en-us-f3", "en-gb-scotland")


def voice(line: str, who: str, rate: int = 16000) -> np.ndarray:
    """A line of tests/voices/ (espeak-ng, not the assistant's voice): `line` in voice `who`."""
    from omni.audio import read_audio

    return read_audio(ROOT / "tests" / "voices" / f"{line}-{who}.wav", rate).samples


def recording(name: str, start: float, end: float, rate: int = 16000) -> np.ndarray:
    """Seconds `start`..`end` of a real person's recording from the real-speech set (fetched
    by set-up into the model cache; bench/realspeech/refs.json says what is said when)."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import devset

    return devset.audio(name, rate)[int(start * rate): int(end * rate)]


class LogWatch:
    """Log records of `logger` (and below) while in use: `await watch.wait(pred, timeout)` returns
    the first record `pred` accepts, as soon as it is logged (from any thread), or fails."""

    def __init__(self, logger: str = "") -> None:
        import logging

        self._logger = logging.getLogger(logger)
        self.records: list = []
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        me = self

        class _Handler(logging.Handler):
            def emit(self, record) -> None:
                me.records.append(record)
                if me._loop is not None and me._changed is not None:
                    me._loop.call_soon_threadsafe(me._changed.set)

        self._handler = _Handler(logging.DEBUG)

    def __enter__(self) -> "LogWatch":
        import logging

        self._logger.addHandler(self._handler)
        self._level = self._logger.level
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)

    async def wait(self, pred, timeout: float):
        self._loop, self._changed = asyncio.get_running_loop(), asyncio.Event()
        deadline = self._loop.time() + timeout
        seen = 0
        while True:
            for r in self.records[seen:]:
                if pred(r):
                    return r
            seen = len(self.records)
            left = deadline - self._loop.time()
            assert left > 0, f"not logged in {timeout} s; logged: {[r.getMessage() for r in self.records][-10:]}"
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass


async def vad_utterances(audio: np.ndarray, **opts) -> list[tuple[Utterance, int]]:
    """The VAD's utterances, each with the input position at which it was decided."""
    vad = SileroVAD("vad", SileroVADOptions(**opts))
    await vad.load(lambda *a: None)
    frames = [InputAudio(samples=audio[i:i + 512], sample_rate=16000, start=i) for i in range(0, len(audio), 512)]
    try:
        out = await run_stage(vad, frames)
    finally:
        await vad.aclose()
    got, pos = [], 0
    for f in out:
        if isinstance(f, InputAudio):
            pos = f.start + len(f.samples)
        elif isinstance(f, Utterance):
            got.append((f, pos))
    return got
