"""Files as the devices: an input wav fed like a microphone, the replies written to a wav on the
input's timeline. The file twin of a microphone and a speaker (no sound card needed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omni.audio import Room, WavFileSink, file_source, read_audio
from omni.audio.sink import PlaybackEvents
from omni.audio.source import watch_input
from omni.frames import EndOfStream, Frame, InputAudio
from omni.transports.base import Transport

if TYPE_CHECKING:
    from omni.audio.io import DecodedAudio
    from omni.config import PipelineConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRunOptions:
    """Inputs and outputs of a run on files."""

    audio_in: Path
    audio_out: Path
    metrics: Path | None = None
    realtime: bool = True
    """Feed the input at its own pace (True) or as fast as the pipeline takes it."""
    out_rate: int | None = None
    """Sample rate of the output file; default: the input file's own rate."""
    room: tuple[float, float] | None = None
    """(gain dB, delay ms): feed the assistant's own audio back into the input like a room."""
    camera: str | None = None
    """Camera source (device index, video file, URL, image folder); default: the pipeline's."""
    video_out: Path | None = None
    """Write the heads-up display (camera, detections, transcript, reply) to this video."""
    hud_fps: float = 10.0


class FileTransport(Transport):
    """An input file in, an output file out; with `room`, the replies echo back into the input."""

    name = "files"

    def __init__(self, opts: FileRunOptions) -> None:
        self.opts = opts
        # barge-in needs real time: a file fed as fast as possible has no "while the assistant speaks"
        self.realtime = opts.realtime
        # a file recorded before this run cannot hold this run's replies, unless a room adds them
        self.echo_path = opts.room is not None
        self.camera = opts.camera
        self._audio: DecodedAudio | None = None
        self._sink: WavFileSink | None = None
        self._stopping = asyncio.Event()

    async def open(self, cfg: PipelineConfig) -> None:
        self._cfg = cfg
        self._audio = audio = await asyncio.to_thread(read_audio, self.opts.audio_in, cfg.sample_rate)
        self.input_s = audio.seconds
        log.info("input %s: %.1f s, %d Hz, %d channel(s)", audio.path, audio.seconds, audio.source_rate,
                 audio.source_channels)

    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        assert self._audio is not None, "open() first"
        self._sink = WavFileSink("out", self.opts.audio_out, self.opts.out_rate or self._audio.source_rate,
                                 events=events, realtime=self.opts.realtime)
        return self._sink

    async def frames(self) -> AsyncIterator[Frame]:
        assert self._audio is not None and self._sink is not None
        cfg = self._cfg
        source = watch_input(file_source(self._audio.samples, cfg.sample_rate, chunk_ms=cfg.chunk_ms,
                                         realtime=self.opts.realtime))
        if self.opts.room is not None:
            source = Room(self._sink.played, gain_db=self.opts.room[0], delay_ms=self.opts.room[1]).wrap(source)
        end = 0
        async for frame in source:
            if self._stopping.is_set():  # stopped early: the input ends here, what was said is kept
                yield EndOfStream(samples=end, sample_rate=cfg.sample_rate)
                return
            if isinstance(frame, InputAudio):
                end = frame.start + len(frame.samples)
            yield frame

    def stop_input(self) -> None:
        self._stopping.set()
