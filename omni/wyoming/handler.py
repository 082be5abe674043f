"""One Wyoming connection: a short request against the engines loaded once.

    describe                                  -> info
    transcribe, audio-start/chunk/stop        -> transcript-start/chunk/stop, transcript
    synthesize                                -> audio-start/chunk/stop
    synthesize-start/chunk/stop               -> audio-start/chunk/stop (sentence by sentence), synthesize-stopped
    detect, audio-start/chunk...              -> detection (as soon as it is heard) or, at audio-stop, not-detected
    transcript (to the handler)               -> handled-start/chunk/stop, handled (or not-handled)

Audio of any rate, width and channels is converted (the wyoming package's converter). Events
are read here with bounds (a header line, its data and its payload each have a limit) and a
read that stalls mid-event ends the connection: a bad client gets an `error` event or a closed
connection, and the server goes on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped
from wyoming.wake import Detect, Detection, NotDetected

from omni.errors import OmniError
from omni.strings import json_depth, safe_text
from omni.wyoming.service import WAKE_MODELS, WyomingService

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_DATA = 1 * 2**20
MAX_PAYLOAD = 4 * 2**20
MAX_AUDIO_S = 60.0
"""One request's audio (a transcription, a detection window is kept far shorter)."""
MAX_DEPTH = 32
STALL_S = 5.0
"""A client silent this long in the middle of an event is gone."""
WAKE_STEP_S, WAKE_WINDOW_S = 0.5, 2.0
SENTENCE = re.compile(r"(.+?[.!?…])(\s+|$)", re.S)


class BadEvent(Exception):
    pass


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """One event (None at the end of the stream); BadEvent for one that breaks the protocol."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise BadEvent("the connection ended inside an event's header") from None
    except asyncio.LimitOverrunError:
        raise BadEvent(f"an event's header line is longer than {MAX_LINE} bytes") from None
    try:
        header = _loads(line)
    except (ValueError, RecursionError):
        raise BadEvent("an event's header line is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadEvent("an event's header is a JSON object with a \"type\"")
    data = header.get("data") if isinstance(header.get("data"), dict) else {}
    data_length, payload_length = header.get("data_length"), header.get("payload_length")
    for name, n, most in (("data_length", data_length, MAX_DATA), ("payload_length", payload_length, MAX_PAYLOAD)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= most):
            raise BadEvent(f"{name} must be a whole number from 0 to {most}")
    try:
        if data_length:
            extra = _loads(await asyncio.wait_for(reader.readexactly(data_length), STALL_S))
            if not isinstance(extra, dict):
                raise BadEvent("an event's data is a JSON object")
            data = {**data, **extra}
        payload = await asyncio.wait_for(reader.readexactly(payload_length), STALL_S) if payload_length else None
    except asyncio.IncompleteReadError:
        raise BadEvent("the connection ended before the event's data or payload did (shorter than announced)") from None
    except TimeoutError:
        raise BadEvent(f"the event's data or payload did not arrive within {STALL_S:.0f} s") from None
    except (ValueError, RecursionError):
        raise BadEvent("an event's data is not JSON") from None
    return Event(type=header["type"], data=data, payload=payload)


def _loads(raw: bytes) -> Any:
    if json_depth(raw, MAX_DEPTH + 1) > MAX_DEPTH:  # refused before parsing: no recursion spent on it
        raise BadEvent(f"an event nests more than {MAX_DEPTH} deep")
    return json.loads(raw)


class OmniHandler:
    """Serves one connection (the server makes one per client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: WyomingService) -> None:
        self.reader, self.writer, self.service = reader, writer, service
        self.calls = service.calls
        self.to16k = AudioChunkConverter(rate=16000, width=2, channels=1)
        self.mode: str | None = None
        self.audio: list[bytes] = []
        self.audio_s = 0.0
        self.started = False
        self.wake_names: list[str] = []
        self.wake_from = 0  # samples of audio already looked at for the wake word
        self.detected = False
        self.stream_text: str | None = None  # synthesize-start ... stop: text not yet spoken
        self.stream_voice: str | None = None
        self.stream_started = False

    async def run(self) -> None:
        self.service.connections += 1
        try:
            while True:
                try:
                    event = await read_event(self.reader)
                except BadEvent as e:
                    await self.error(str(e), "bad-event")
                    return  # the stream is out of step: nothing after it can be read
                if event is None:
                    return
                try:
                    await self.handle(event)
                except OmniError as e:
                    await self.error(str(e), "refused")
                except (ValueError, KeyError, TypeError, AttributeError) as e:  # a field of the wrong shape
                    await self.error(f"{event.type}: a field is missing or of the wrong kind ({type(e).__name__}: {e})",
                                     "bad-event")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: what it asked is dropped
        except Exception:
            log.exception("wyoming: a connection failed", extra={"stage": "wyoming"})
            with contextlib.suppress(Exception):
                await self.error("the server failed on this connection (see its log)", "server-error")
        finally:
            self.service.connections -= 1
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def write(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def error(self, text: str, code: str) -> None:
        log.info("wyoming: %s", text, extra={"stage": "wyoming"})
        await self.write(Error(text=safe_text(text)[:500], code=code).event())

    # events -----------------------------------------------------------------------------------
    async def handle(self, event: Event) -> None:
        t = event.type
        if Describe.is_type(t):
            await self.write(self.service.info().event())
        elif Transcribe.is_type(t):
            self._begin("transcribe")
        elif Detect.is_type(t):
            names = Detect.from_event(event).names or [next(iter(WAKE_MODELS))]
            unknown = [n for n in names if n not in WAKE_MODELS]
            if unknown:
                raise _Refused(f"no wake word model named {', '.join(unknown)[:80]} (bundled: {', '.join(WAKE_MODELS)})")
            self._begin("detect")
            self.wake_names = names
        elif AudioStart.is_type(t):
            AudioStart.from_event(event)
            if self.mode is None:
                self._begin("transcribe")  # as wyoming-faster-whisper: audio alone is to be transcribed
            self.started, self.audio, self.audio_s, self.wake_from, self.dropped = True, [], 0.0, 0, 0
        elif AudioChunk.is_type(t):
            await self._chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(t):
            await self._stop()
        elif Synthesize.is_type(t):
            if self.stream_text is None:  # (a streaming client sends it too, for servers that cannot stream)
                s = Synthesize.from_event(event)
                await self._speak_whole(s.text, s.voice.name if s.voice else None)
        elif SynthesizeStart.is_type(t):
            s = SynthesizeStart.from_event(event)
            self.stream_text, self.stream_voice, self.stream_started = "", s.voice.name if s.voice else None, False
        elif SynthesizeChunk.is_type(t):
            if self.stream_text is None:
                raise _Refused("synthesize-chunk without synthesize-start")
            self.stream_text += SynthesizeChunk.from_event(event).text
            await self._speak_sentences(final=False)
        elif SynthesizeStop.is_type(t):
            if self.stream_text is None:
                raise _Refused("synthesize-stop without synthesize-start")
            await self._speak_sentences(final=True)
            await self.write(AudioStop().event())
            await self.write(SynthesizeStopped().event())
            self.stream_text = None
        elif Transcript.is_type(t):
            await self._answer(Transcript.from_event(event))
        else:
            raise _Refused(f"omni does not take {t[:60]!r} events")

    def _begin(self, mode: str) -> None:
        self.mode, self.started, self.audio, self.audio_s, self.detected = mode, False, [], 0.0, False
        self.dropped = 0
        """16 kHz samples of this request no longer kept (a wake-word search keeps only its window):
        the first kept sample's offset in the stream, so a detection's timestamp is the stream's."""
        self.to16k = AudioChunkConverter(rate=16000, width=2, channels=1)  # no resampler state from the last request

    async def _chunk(self, chunk: AudioChunk) -> None:
        if not self.started:
            raise _Refused("audio-chunk without audio-start")
        if chunk.width not in (1, 2, 3, 4) or chunk.channels not in (1, 2) or not 1000 <= chunk.rate <= 192000:
            raise _Refused(f"audio of rate {chunk.rate}, width {chunk.width}, {chunk.channels} channels cannot be read")
        if len(chunk.audio) % (chunk.width * chunk.channels):
            raise _Refused("an audio chunk ends inside a sample")
        pcm = self.to16k.convert(chunk).audio
        if self.mode == "detect" and self.detected:
            return  # heard already: what a satellite streams after that is not kept
        self.audio.append(pcm)
        self.audio_s += len(pcm) / 32000
        if self.mode == "detect":
            await self._look_for_wake_word()
        elif self.audio_s > MAX_AUDIO_S:
            self._begin(self.mode or "transcribe")
            raise _Refused(f"more than {MAX_AUDIO_S:.0f} s of audio in one request: dropped")

    def _samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.audio), "<i2")

    async def _look_for_wake_word(self) -> None:
        if self.detected:
            return
        x = self._samples()
        if len(x) - self.wake_from < WAKE_STEP_S * 16000:
            return
        window = x[max(0, len(x) - int(WAKE_WINDOW_S * 16000)):]
        start = len(x) - len(window)
        self.wake_from = len(x)
        start += self.dropped  # in the stream, not in what is kept of it
        if len(x) > 2 * WAKE_WINDOW_S * 16000:  # keep only the window to come
            keep = int(WAKE_WINDOW_S * 16000)
            self.audio = [x[-keep:].tobytes()]
            self.dropped += len(x) - keep
            self.wake_from = keep
        for name in self.wake_names:
            best, at = await self.calls.wake(window, 16000, model=name)
            if at is not None:
                self.detected = True
                await self.write(Detection(name=name, timestamp=int((start + at) / 16)).event())  # ms
                return

    async def _stop(self) -> None:
        if not self.started:
            raise _Refused("audio-stop without audio-start")
        mode, x = self.mode, self._samples()
        self._begin(mode or "transcribe")
        self.mode = None
        if mode == "detect":
            if not self.detected:
                await self.write(NotDetected().event())
            return
        if len(x) < 1600:
            raise _Refused("less than 0.1 s of audio: nothing to transcribe")
        heard = await self.calls.transcribe(x, 16000)
        text = heard.text.strip()
        await self.write(TranscriptStart(language="en").event())
        if text:
            await self.write(TranscriptChunk(text=text).event())
        await self.write(TranscriptStop().event())
        await self.write(Transcript(text=text, language="en").event())

    # speaking ---------------------------------------------------------------------------------
    async def _speak_whole(self, text: str, voice: str | None) -> None:
        text = safe_text(text).strip()
        if not text:
            raise _Refused("nothing to say: the text is empty")
        await self._say(text, voice, start=True)
        await self.write(AudioStop().event())

    async def _speak_sentences(self, final: bool) -> None:
        assert self.stream_text is not None
        while True:
            m = SENTENCE.match(self.stream_text)
            if m is None:
                break
            self.stream_text = self.stream_text[m.end():]
            await self._say(m.group(1).strip(), self.stream_voice, start=not self.stream_started)
            self.stream_started = True
        if final and self.stream_text.strip():
            await self._say(self.stream_text.strip(), self.stream_voice, start=not self.stream_started)
            self.stream_started, self.stream_text = True, ""
        if final and not self.stream_started:  # nothing was said: still a well-formed answer
            await self.write(AudioStart(rate=await self._rate(self.stream_voice), width=2, channels=1).event())
            self.stream_started = True

    async def _rate(self, voice: str | None) -> int:
        return await self.calls.rate_of(voice) if voice and self._own_voice(voice) is None else self.calls.sample_rate

    def _own_voice(self, voice: str | None) -> str | None:
        """None: the pipeline's own voice (Home Assistant names the voice its info listed)."""
        own = str((self.service.stage("tts.").options or {}).get("voice", "joe"))
        return None if not voice or voice == own else voice

    async def _say(self, text: str, voice: str | None, start: bool) -> None:
        other = self._own_voice(voice)
        options = {"voice": other} if other else {}
        stream = self.calls.speak(safe_text(text), **options)
        rate = await self.calls.rate_of(other) if other else None
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                if start:
                    rate = rate or self.calls.sample_rate
                    await self.write(AudioStart(rate=rate, width=2, channels=1).event())
                    start = False
                rate = rate or self.calls.sample_rate
                pcm = (np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes()
                for i in range(0, len(pcm), 4096):
                    await self.write(AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i:i + 4096]).event())

    # the dialogue -----------------------------------------------------------------------------
    async def _answer(self, tr: Transcript) -> None:
        context: dict[str, Any] = tr.context if isinstance(tr.context, dict) else {}
        text = safe_text(tr.text or "").strip()
        if not text:
            await self.write(NotHandled(text="I didn't hear anything.", context=context).event())
            return
        conv, replies = await self.service.conversation(str(context.get("conversation_id") or "") or None)
        turn = conv.ask(text)
        pieces = replies.watch(turn)
        await self.write(HandledStart(context=context).event())
        said, t0 = [], time.monotonic()
        while True:
            try:
                piece, reason = await asyncio.wait_for(pieces.get(), 120)
            except TimeoutError:
                piece, reason = "", "error"
            if reason is not None:
                break
            said.append(piece)
            await self.write(HandledChunk(text=piece).event())
        replies.queues.pop(turn.id, None)
        await self.write(HandledStop().event())
        final = (piece or "".join(said)).strip()
        if reason == "error" or not final:
            await self.write(NotHandled(text=final or "Sorry, I can't answer that right now.", context=context).event())
        else:
            await self.write(Handled(text=final, context=context).event())
        log.info("wyoming: answered %r in %.0f ms", text[:60], (time.monotonic() - t0) * 1000)


class _Refused(OmniError):
    """A request omni does not take: an `error` event, and the connection goes on."""
