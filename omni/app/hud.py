"""The heads-up display as a video file: what the glasses would show, time-aligned with the audio.

An observer keeps what is to be shown (the latest camera frame, the detections of the latest
scene, what the user said, the reply as it streams, the assistant's state); `run()` writes a
frame every 1/fps seconds from the run's start, so frame k stands for second k/fps of the input
audio. Drawing and encoding happen in a worker thread; a frame that is late is written again
rather than skipped, so the video keeps the audio's length.
"""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omni.errors import ConfigError, OutputError
from omni.files import part_path
from omni.frames import (ErrorEvent, Frame, PartialTranscript, ReplyPlayed, ReplySentence, SceneFrame, Transcript,
                         VideoFrame)
from omni.runtime import Worker
from omni.runtime.state import AssistantState

log = logging.getLogger(__name__)


@dataclass
class _Shown:
    image: np.ndarray | None = None
    scene: SceneFrame | None = None
    heard: str = ""
    reply: str = ""
    state: str = "idle"
    alert: str = ""
    alert_until: float = 0.0
    reply_turn: int | None = None
    sentences: dict[int, str] = field(default_factory=dict)


def _ascii(text: str) -> str:
    return text.replace("…", "...").replace("’", "'").encode("ascii", "replace").decode()


class HudWriter:
    def __init__(self, path: Path, fps: float = 10.0, size: tuple[int, int] = (854, 480)) -> None:
        if path.suffix.lower() not in (".mp4", ".avi"):
            raise ConfigError(f"--video-out {path}: write .mp4 or .avi")
        self.path = path
        self.fps = fps
        self.size = size
        self.frames = 0
        self.state = AssistantState()
        self._shown = _Shown()
        self._worker = Worker("hud")
        self._writer = None

    # observer --------------------------------------------------------------------------------
    def on_frame(self, stage: str, frame: Frame) -> None:
        s = self._shown
        self.state.on_frame(stage, frame)
        s.state = self.state.state
        if isinstance(frame, VideoFrame):
            s.image = frame.image
        elif isinstance(frame, SceneFrame):
            s.scene = frame
        elif isinstance(frame, PartialTranscript):
            s.heard = frame.text + " ..."
        elif isinstance(frame, Transcript) and not frame.tentative:
            s.heard = frame.text
        elif isinstance(frame, ReplySentence):
            if s.reply_turn != frame.turn.id:
                s.reply_turn, s.sentences = frame.turn.id, {}
            s.sentences[frame.index] = frame.text
            s.reply = " ".join(s.sentences[i] for i in sorted(s.sentences))
        elif isinstance(frame, ReplyPlayed) and frame.reason == "interrupted":
            s.reply = frame.text + " ..."
        elif isinstance(frame, ErrorEvent) and stage in ("source", "camera", "scene"):
            s.alert, s.alert_until = frame.message, time.monotonic() + 3.0

    # drawing ---------------------------------------------------------------------------------
    def render(self, s: _Shown, now: float) -> np.ndarray:
        import cv2

        w, h = self.size
        canvas = np.zeros((h, w, 3), np.uint8)
        fx = fy = 1.0
        ox = oy = 0
        if s.image is not None:
            ih, iw = s.image.shape[:2]
            f = min(w / iw, h / ih)
            nw, nh = max(1, round(iw * f)), max(1, round(ih * f))
            ox, oy = (w - nw) // 2, (h - nh) // 2
            canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(s.image, (nw, nh), interpolation=cv2.INTER_AREA)
        if s.scene is not None and s.image is not None:
            sw, sh = s.scene.size
            fx, fy = (canvas.shape[1] - 2 * ox) / sw, (canvas.shape[0] - 2 * oy) / sh

            def box(b: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
                x, y, bw, bh = b
                cv2.rectangle(canvas, (ox + round(x * fx), oy + round(y * fy)),
                              (ox + round((x + bw) * fx), oy + round((y + bh) * fy)), colour, 2)
            for line in s.scene.text:
                box(line.box, (0, 220, 255))
            for face in s.scene.faces:
                box(face, (80, 255, 80))
            labels = ", ".join(f"{lb.name} {lb.score:.0%}" for lb in s.scene.labels[:2])
            age = now - s.scene.captured
            self._banner(canvas, f"sees: {labels or '-'}  ({age:.1f} s ago)", 0, (255, 255, 0))
        self._banner(canvas, f"[{s.state}]", 0, (200, 200, 200), right=True)
        rows = []
        if s.heard:
            rows.append(("you: " + s.heard, (255, 255, 255)))
        if s.reply:
            rows.append(("omni: " + s.reply.strip(), (120, 255, 120)))
        if s.alert and now < s.alert_until:
            rows.append(("! " + s.alert, (80, 80, 255)))
        y = h - 12
        for text, colour in reversed(rows):
            for line in reversed(textwrap.wrap(_ascii(text), 64)[-3:]):
                self._text(canvas, line, (12, y), colour)
                y -= 26
        return canvas

    @staticmethod
    def _text(img: np.ndarray, text: str, at: tuple[int, int], colour: tuple[int, int, int]) -> None:
        import cv2

        cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2, cv2.LINE_AA)

    def _banner(self, img: np.ndarray, text: str, row: int, colour: tuple[int, int, int], right: bool = False) -> None:
        import cv2

        text = _ascii(text)
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
        x = img.shape[1] - tw - 12 if right else 12
        self._text(img, text, (x, 28 + row * 26), colour)

    # writing ---------------------------------------------------------------------------------
    def _open(self) -> None:
        import cv2

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
        self._writer = cv2.VideoWriter(str(part_path(self.path)), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            raise ConfigError(f"cannot write video to {self.path}")

    def _write(self, s: _Shown, now: float, copies: int) -> None:
        img = self.render(s, now)
        for _ in range(copies):
            self._writer.write(img)  # type: ignore[union-attr]
        self.frames += copies

    async def run(self, stop: asyncio.Event) -> None:
        """Write frames at `fps` from now until `stop` is set."""
        await self._worker.call(self._open)
        t0 = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                due = int((now - t0) * self.fps) + 1
                if due > self.frames:
                    snap = _Shown(**{**vars(self._shown), "sentences": {}})
                    await self._worker.call(self._write, snap, now, due - self.frames)
                if stop.is_set():
                    break
                next_t = t0 + self.frames / self.fps
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, next_t - time.monotonic()))
                except TimeoutError:
                    pass
        finally:
            await self._worker.call(self._close)
            self._worker.shutdown()

    @staticmethod
    def _frames_in(path: Path) -> int:
        import cv2

        cap = cv2.VideoCapture(str(path))
        try:
            return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()

    def _close(self) -> None:
        if self._writer is not None:  # written under a temporary name, renamed once whole
            self._writer.release()
            self._writer = None
            tmp = part_path(self.path)
            # OpenCV's writer says nothing when a write fails: a video is kept only when it reads
            # back with every frame (a full disk leaves a file with no index, or a short one)
            if not tmp.exists() or (self.frames and self._frames_in(tmp) < self.frames):
                tmp.unlink(missing_ok=True)
                raise OutputError(f"cannot write the video {self.path}: it was not written whole "
                                  "(the disk is full, or the folder is gone)")
            os.replace(tmp, self.path)
        log.info("HUD video: %d frames at %g fps -> %s", self.frames, self.fps, self.path)
