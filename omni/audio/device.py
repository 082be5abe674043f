"""Live audio through sounddevice (PortAudio): the microphone as a source, the speaker as a player.

The audio callbacks run on PortAudio's thread and never block: the microphone's copies its block
and hands it to the event loop (`call_soon_threadsafe`); the speaker's reads the reply timeline
(the same `Timeline` the file speaker writes, under its lock) for the samples due now. Any
device rate is converted to and from the pipeline's. Input overflows, output underflows,
dropped blocks and the time each callback takes (against its period) are counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from omni.audio.sink import PlaybackEvents, WavFileSink
from omni.errors import ConfigError, ServiceError
from omni.frames import EndOfStream, ErrorEvent, Frame, InputAudio

log = logging.getLogger(__name__)

NO_DEVICE_HINT = "no sound card here? run on files: --audio-in IN.wav --audio-out OUT.wav"
DEVICE_CALL_S = 5.0
"""Longest wait for PortAudio to open or stop a stream once the device has gone wrong."""


left_behind = 0
"""PortAudio calls given up on (their threads are stuck in PortAudio): the process then exits
without PortAudio's own exit handler, which would wait on them for good (launch.py)."""
_opening = threading.Lock()
"""Held while a PortAudio open runs off the loop: a stuck open is not joined by another. (A
close is not held to it: a stream stuck in its stop is left behind and a new one opened, which
is what brings the microphone back; holding the next open behind the stuck close kept it away
for good, in a fresh-clone run.)"""


async def off_loop(call: Callable[[], Any], what: str, timeout: float = DEVICE_CALL_S,
                   late: Callable[[Any], None] | None = None, one_at_a_time: threading.Lock | None = None) -> Any:
    """Run a PortAudio call on a thread of its own, never on the event loop, and wait `timeout`.
    A device that has gone away can block in PortAudio for good (stopping a stream whose ALSA
    poll keeps failing never returned: the whole loop stood still); such a call is left to its
    daemon thread and TimeoutError raised, so the caller can go on without it. What it returns
    after that is given to `late` (on that thread: a stream opened too late is closed). While
    `one_at_a_time` is stuck, the next call under it raises TimeoutError at once instead of
    starting another thread."""
    if one_at_a_time is not None and not one_at_a_time.acquire(blocking=False):
        raise TimeoutError("an earlier call of it has not returned")
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    gave_up = threading.Event()

    def settle(ok: bool, value: Any) -> None:
        if not done.done():
            done.set_result(value) if ok else done.set_exception(value)

    def run() -> None:
        ok, value = True, None
        try:
            value = call()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting task
            ok, value = False, e
        finally:
            if one_at_a_time is not None:
                one_at_a_time.release()
        if gave_up.is_set():
            if ok and late is not None and value is not None:
                late(value)
            return
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop has closed meanwhile: nobody waits
            if ok and late is not None and value is not None:
                late(value)

    threading.Thread(target=run, name=f"omni-device-{what}", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        global left_behind
        left_behind += 1
        gave_up.set()
        if late is not None:  # settled on the loop after all (the thread had not seen gave_up): closed then
            done.add_done_callback(lambda f: None if f.cancelled() or f.exception() is not None or f.result() is None
                                   else threading.Thread(target=late, args=(f.result(),), daemon=True).start())
        log.warning("%s did not return in %g s: left behind", what, timeout)
        raise


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as e:  # the PortAudio library itself is missing
        raise ConfigError(f"live audio needs PortAudio, which is not installed ({e})",
                          hint="apt-get install libportaudio2; or " + NO_DEVICE_HINT) from None
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    sd = _sd()
    default_in, default_out = sd.default.device
    return [{"index": i, "name": d["name"], "inputs": d["max_input_channels"],
             "outputs": d["max_output_channels"], "rate": int(d["default_samplerate"]),
             "default": ("in " if i == default_in else "") + ("out" if i == default_out else "")}
            for i, d in enumerate(sd.query_devices())]


def native_rate(sd: Any, device: dict[str, Any], wanted: int, kind: str) -> int:
    """`wanted` (the pipeline's rate) if the device takes it, else the device's default rate.
    Opening at the default rate resamples twice when the sound server already runs at the
    pipeline's rate (PulseAudio's own resampler up, then soxr down)."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device["index"], samplerate=wanted, channels=1, dtype="float32")
    except Exception:  # noqa: BLE001 - sounddevice raises PortAudioError or ValueError
        return int(device["rate"])
    return wanted


def pick_device(spec: str | int | None, kind: str) -> dict[str, Any]:
    """The device named (index, or part of its name) or the default one, with inputs/outputs."""
    devices = list_devices()
    key = "inputs" if kind == "input" else "outputs"
    usable = [d for d in devices if d[key] > 0]
    if not usable:
        raise ConfigError(f"no audio {kind} device found", hint=NO_DEVICE_HINT)
    if spec is None or spec == "":
        sd = _sd()
        idx = sd.default.device[0 if kind == "input" else 1]
        found = next((d for d in usable if d["index"] == idx), usable[0])
        return found
    if isinstance(spec, int) or str(spec).isdigit():
        found = next((d for d in usable if d["index"] == int(spec)), None)
    else:
        found = next((d for d in usable if str(spec).lower() in d["name"].lower()), None)
    if found is None:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in usable)
        raise ConfigError(f"no {kind} device {spec!r}", hint=f"{kind} devices: {names} (--list-devices)")
    return found


@dataclass
class CallbackStats:
    """How long the audio callback took, against its period (it must stay far below 100 %)."""

    loads: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=5000))
    calls: int = 0
    xruns: int = 0
    """PortAudio's input overflows (microphone) or output underflows (speaker)."""

    def add(self, seconds: float, period: float) -> None:
        self.calls += 1
        self.loads.append(seconds / period if period > 0 else 0.0)

    def summary(self) -> dict[str, Any]:
        xs = sorted(self.loads)
        pick = (lambda q: round(100 * xs[min(len(xs) - 1, int(q * len(xs)))], 2)) if xs else (lambda q: None)
        return {"calls": self.calls, "xruns": self.xruns, "load_pct_p50": pick(0.5),
                "load_pct_p99": pick(0.99), "load_pct_max": round(100 * xs[-1], 2) if xs else None}


BURST = 5
"""A burst of audio the pipeline is taking is kept up to this many times the microphone's queue."""


class Microphone:
    """An input device as a source of InputAudio chunks on the pipeline's timeline."""

    def __init__(self, device: str | int | None, sample_rate: int, *, chunk_ms: int = 32,
                 queue_s: float = 2.0) -> None:
        self.spec = device
        self.sample_rate = sample_rate
        self.chunk_ms = chunk_ms
        self.stats = CallbackStats()
        self.dropped = 0
        """Blocks dropped because the pipeline did not take them for `queue_s` (counted, reported)."""
        self._queue_s = queue_s
        self._taken: float | None = None
        """When the pipeline last took the blocks waiting (monotonic; None: never)."""
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._arrived = asyncio.Event()
        self.started = asyncio.Event()
        """Set when the first block of audio has arrived: the device is really delivering."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self.t0: float | None = None
        """Monotonic time of input sample 0 (the speaker aligns its timeline to it)."""
        self.device: dict[str, Any] = {}
        self._stop = False
        self._last_call = 0.0
        self._frames: collections.deque[Frame] = collections.deque(maxlen=64)
        """Frames from the person at the keyboard (push to talk), passed on between chunks."""

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream = self._open_stream()

    def _open_stream(self) -> Any:
        """Open and start a stream and return it (on any thread: its callback hands blocks to
        `self._loop`); the caller makes it the microphone's on the loop."""
        sd = _sd()
        self.device = pick_device(self.spec, "input")
        rate = self._rate = native_rate(sd, self.device, self.sample_rate, "input")
        self._max_blocks = max(4, int(self._queue_s * 1000 / self.chunk_ms))
        self._taken = time.monotonic()
        try:
            stream = sd.InputStream(device=self.device["index"], channels=1, samplerate=rate,
                                    dtype="float32", blocksize=int(rate * self.chunk_ms / 1000),
                                    callback=self._callback)
            stream.start()
        except Exception as e:  # sounddevice.PortAudioError and friends
            raise ServiceError(f"cannot open the microphone {self.device['name']!r} at {rate} Hz: {e}",
                               retryable=True, hint="pick another with --input-device (--list-devices)") from e
        self._last_call = time.monotonic()
        log.info("microphone: %s at %d Hz", self.device["name"], rate)
        return stream

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        t = time.perf_counter()
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now - frames / self._rate
        if status.input_overflow:
            self.stats.xruns += 1
        block = indata[:, 0].copy()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._arrive, block)
        self._last_call = now
        self.stats.add(time.perf_counter() - t, frames / self._rate)

    def _arrive(self, block: np.ndarray) -> None:
        # Audio that arrives in a burst (a sound server catching up after the machine was busy
        # delivers seconds of it at once) while the pipeline keeps taking it is kept, up to
        # BURST times the queue; the oldest is dropped only when the pipeline has taken nothing
        # for `queue_s`, so a pipeline that fell behind catches up on the newest audio.
        behind = self._taken is None or time.monotonic() - self._taken > self._queue_s
        if len(self._blocks) >= self._max_blocks * (1 if behind else BURST):
            self._blocks.popleft()
            self.dropped += 1
        self._blocks.append(block)
        self._arrived.set()
        self.started.set()

    def stop(self) -> None:
        self._stop = True
        self._arrived.set()

    def inject(self, frame: Frame) -> None:
        """Put a frame on the stream before the next chunk (call on the loop's thread)."""
        self._frames.append(frame)
        self._arrived.set()

    def close(self) -> None:
        if self._stream is not None:
            _close_stream(self._stream, "microphone")
            self._stream = None

    async def aclose(self) -> None:
        """close(), off the event loop: a device gone wrong cannot hold the loop up."""
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(TimeoutError):
                await off_loop(lambda: _close_stream(stream, "microphone"), "closing the microphone")

    async def frames(self, stall_s: float = 2.0) -> AsyncIterator[Frame]:
        """InputAudio chunks at the pipeline's rate until stop(); a device that stops delivering
        is reported (ErrorEvent) and reopened with backoff."""
        n = self.sample_rate * self.chunk_ms // 1000
        rs = soxr.ResampleStream(self._rate, self.sample_rate, 1, dtype="float32") \
            if self._rate != self.sample_rate else None
        pending = np.zeros(0, np.float32)
        pos = 0
        reported_drops = 0
        backoff = 0.5
        while not self._stop:
            self._arrived.clear()
            while self._frames:
                yield self._frames.popleft()
            if not self._blocks:
                try:
                    await asyncio.wait_for(self._arrived.wait(), stall_s)
                except TimeoutError:
                    yield ErrorEvent(stage="microphone", message=f"the microphone {self.device.get('name')!r} "
                                     f"delivered nothing for {stall_s:g} s: reopening it")
                    await self.aclose()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    try:
                        stream = await off_loop(self._open_stream, "opening the microphone",
                                                late=lambda st: _close_stream(st, "microphone"), one_at_a_time=_opening)
                    except (ServiceError, ConfigError) as e:
                        yield ErrorEvent(stage="microphone", message=str(e).split("\n")[0])
                    except TimeoutError as e:
                        yield ErrorEvent(stage="microphone", message=f"opening the microphone: {e or 'no answer'}, "
                                         f"in {DEVICE_CALL_S:g} s: trying again")
                    else:
                        self._stream = stream
                        log.warning("the microphone %r is open again", self.device.get("name"),
                                    extra={"stage": "microphone"})
                    continue
            backoff = 0.5
            if self.dropped > reported_drops:
                yield ErrorEvent(stage="microphone", message=f"{self.dropped - reported_drops} audio block(s) "
                                 "dropped: the pipeline fell behind the microphone")
                reported_drops = self.dropped
            self._taken = time.monotonic()
            while self._blocks:
                block = self._blocks.popleft()
                pending = np.concatenate([pending, rs.resample_chunk(block) if rs else block])
            while len(pending) >= n:
                chunk, pending = pending[:n], pending[n:]
                yield InputAudio(samples=chunk, sample_rate=self.sample_rate, start=pos)
                pos += n
        yield EndOfStream(samples=pos, sample_rate=self.sample_rate)


def _close_stream(stream: Any, what: str) -> None:
    try:
        stream.stop()
        stream.close()
    except Exception:  # a device that is gone cannot be closed cleanly
        log.debug("closing the %s failed", what, exc_info=True)


class Speaker(WavFileSink):
    """An output device as the pipeline's player: replies play as soon as their first chunk
    exists, and stop at once on barge-in or mute (they are cut on the timeline it reads)."""

    def __init__(self, name: str, device: str | int | None, *, record: Path | None = None,
                 events: PlaybackEvents | None = None, latency_s: float = 0.05,
                 clock: Callable[[], float | None] | None = None) -> None:
        self.device = pick_device(device, "output")
        super().__init__(name, record, self.device["rate"], events=events, realtime=True,
                         keep_s=None if record else 60.0)
        self.latency_s = latency_s
        self.clock = clock
        """Monotonic time of input sample 0 (the microphone's), None until it is known: the
        speaker's timeline is the input's, so a reply plays where the recorder places it."""
        self._own_ref: float | None = None
        self.stats = CallbackStats()
        self._pos: int | None = None
        self._stream: Any = None

    @property
    def t_ref(self) -> float:
        """Monotonic time of timeline sample 0: the input's, or until it is known the speaker's start."""
        ref = self.clock() if self.clock is not None else None
        if ref is not None:
            return ref
        if self._own_ref is None:
            self._own_ref = time.monotonic()
        return self._own_ref

    async def load(self, progress: Any) -> None:
        sd = _sd()
        rate = self.device["rate"]
        try:
            self._stream = sd.OutputStream(device=self.device["index"], channels=1, samplerate=rate,
                                           dtype="float32", blocksize=int(rate * 0.02), callback=self._callback)
            self._stream.start()
        except Exception as e:
            raise ServiceError(f"cannot open the speaker {self.device['name']!r} at {rate} Hz: {e}",
                               hint="pick another with --output-device (--list-devices)") from e
        log.info("speaker: %s at %d Hz", self.device["name"], rate)

    def playable_from(self) -> int | None:
        """The next sample the sound card will read: what it has read already is in its buffer,
        heard or about to be, whatever the timeline says after."""
        return self._pos if self._pos is not None else self._due()

    def _due(self) -> int:
        """The timeline sample the card is due to read now (it reads `latency_s` ahead)."""
        return round((time.monotonic() + self.latency_s - self.t_ref) * self.timeline.sample_rate)

    def _not_before(self) -> int | None:
        return self.playable_from()

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        t = time.perf_counter()
        if status.output_underflow:
            self.stats.xruns += 1
        rate = self.timeline.sample_rate
        with self.timeline.lock:  # what is read and how far, as one: the loop places from `_pos`
            due = self._due()
            if self._pos is None or abs(self._pos - due) > rate // 10:  # (re)align to the clock
                self._pos = due
            outdata[:, 0] = self.timeline.segment(self._pos, self._pos + frames)
            self._pos += frames
        self.stats.add(time.perf_counter() - t, frames / rate)

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(TimeoutError):
                await off_loop(lambda: _close_stream(stream, "speaker"), "closing the speaker")
        await super().aclose()


def watch_keys(stream: Any, on_key: Callable[[str], None], stop: Any) -> None:
    """Read single keys from a terminal (cbreak mode, restored after) until `stop` is set; runs in
    a thread of its own. Any readable stream works (the tests use a pipe)."""
    import os
    import select

    fd = stream.fileno()
    saved = None
    try:
        import termios
        import tty
        if os.isatty(fd):
            saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
    except (ImportError, OSError):
        saved = None
    try:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 32)
                if not data:
                    return
                for ch in data.decode(errors="ignore"):
                    on_key(ch)
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
