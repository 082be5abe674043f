"""A camera through OpenCV: a device index, a video file, an RTSP/HTTP URL or a folder of images.

The camera is read on a thread of its own into a one-frame slot: a newer frame replaces the one
there (old frames are dropped and counted, never queued), so whoever looks gets the latest. A
video file or an image folder is paced like a camera (the file's frame rate, `folder_fps`). A
source that cannot be opened, or stops delivering, is reopened with backoff; each fault is kept
for the pipeline to report as an event. Frames larger than `max_side` are scaled down on the
camera's thread. `Sampler` turns the slot into VideoFrames at an adaptive rate (faster while the
user speaks) and skips frames that did not change.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omni.frames import ErrorEvent, Frame
from omni.frames.vision import VideoFrame
from omni.runtime.threads import lower_priority

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class CameraOptions(BaseModel):
    """The `camera:` block of a pipeline file (`--camera SOURCE` sets `source`)."""

    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    """A device index (0), a video file, an RTSP/HTTP URL or a folder of images."""
    idle_fps: float = Field(0.3, gt=0, le=60)
    """Frames sampled per second while nobody speaks..."""
    active_fps: float = Field(1.0, gt=0, le=60)
    """...and while the user speaks (the question is about what is in view now)."""
    max_side: int = Field(1280, ge=64, le=8192)
    """Larger frames are scaled down on the camera's thread (a 4K frame costs the same as HD)."""
    folder_fps: float = Field(1.0, gt=0, le=60)
    """Pace of an image folder used as a camera."""
    change_threshold: float = Field(3.0, ge=0, le=255)
    """Mean grey-level change (of a 32x32 thumbnail) below which a frame counts as unchanged."""
    stale_s: float = Field(5.0, gt=0)
    """No new frame for this long: reported as an event (once, until frames come back)."""
    nice: int = Field(10, ge=0, le=19)
    """The camera thread's niceness (Linux; its video decoder threads inherit it): decoding
    gives way to the voice when the CPU is short."""

    @field_validator("source", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v  # `--set camera.source=0`: device 0

    def camera(self, source: str) -> Camera:
        return Camera(source, max_side=self.max_side, folder_fps=self.folder_fps, nice=self.nice)

    def sampler(self, camera: Camera, active: Callable[[], bool]) -> Sampler:
        return Sampler(camera, idle_fps=self.idle_fps, active_fps=self.active_fps, active=active,
                       change=ChangeDetector(self.change_threshold), stale_s=self.stale_s)


@dataclass(frozen=True)
class Shot:
    image: np.ndarray
    captured: float
    seq: int


class Camera:
    def __init__(self, source: str, *, max_side: int = 1280, folder_fps: float = 1.0,
                 reopen_s: tuple[float, float] = (0.5, 10.0), loop_files: bool = True, nice: int = 0) -> None:
        self.source = source
        self.nice = nice
        self.max_side = max_side
        self.folder_fps = folder_fps
        self.reopen_s = reopen_s
        self.loop_files = loop_files
        self.read = 0
        self.dropped = 0
        """Frames replaced in the slot before anyone took them."""
        self.reopens = 0
        self.faults: collections.deque[str] = collections.deque(maxlen=32)
        self._last_fault: str | None = None
        self.repeats = 0
        """Faults not reported again because they repeat the last one."""
        self._slot: Shot | None = None
        self._taken = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # the slot -------------------------------------------------------------------------------
    def latest(self) -> Shot | None:
        """The newest frame (the same one again if nothing newer came)."""
        with self._lock:
            self._taken = True
            return self._slot

    def _put(self, image: np.ndarray) -> None:
        image = self._fit(image)
        self._last_fault = None
        with self._lock:
            if not self._taken:
                self.dropped += 1
            self.read += 1
            self._slot = Shot(image, time.monotonic(), self.read)
            self._taken = False

    def _fit(self, image: np.ndarray) -> np.ndarray:
        import cv2

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        h, w = image.shape[:2]
        if max(h, w) > self.max_side:
            f = self.max_side / max(h, w)
            image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        return image

    def _fault(self, message: str) -> None:
        """Report a fault once: the same fault again (each reopen attempt) only at debug level,
        until a frame comes through."""
        if message == self._last_fault:
            self.repeats += 1
            log.debug("camera %s: %s (again, %d times)", self.source, message, self.repeats)
            return
        self._last_fault = message
        log.warning("camera %s: %s; retrying with backoff", self.source, message)
        self.faults.append(message)

    # the thread -----------------------------------------------------------------------------
    def start(self) -> Camera:
        self._thread = threading.Thread(target=self._run, name=f"camera:{self.source}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        lower_priority(self.nice)
        delay = self.reopen_s[0]
        while not self._stop.is_set():
            try:
                delivered = self._folder() if Path(self.source).is_dir() else self._capture()
            except Exception as e:  # OpenCV raises cv2.error and friends on broken input
                self._fault(f"{type(e).__name__}: {e}")
                delivered = False
            if self._stop.is_set():
                return
            if delivered:
                delay = self.reopen_s[0]
            self.reopens += 1
            self._stop.wait(delay)
            delay = min(delay * 2, self.reopen_s[1])

    def _capture(self) -> bool:
        import cv2

        spec: Any = int(self.source) if self.source.isdigit() else self.source
        cap = cv2.VideoCapture(spec)
        try:
            if not cap.isOpened():
                self._fault(f"cannot open {self.source!r} (no such device, file or stream, or not video)")
                return False
            is_file = isinstance(spec, str) and Path(spec).is_file()
            fps = cap.get(cv2.CAP_PROP_FPS) if is_file else 0.0
            period = 1.0 / fps if fps and 1 <= fps <= 240 else 0.0
            t0, n, got = time.monotonic(), 0, False
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok or image is None or image.size == 0:
                    if is_file and got and self.loop_files:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a file camera loops
                        t0, n = time.monotonic(), 0
                        continue
                    self._fault("the camera stopped delivering frames" if got else
                                f"{self.source!r} gave no frame (corrupt or empty?)")
                    return got
                got = True
                self._put(image)
                n += 1
                if period:
                    self._stop.wait(max(0.0, t0 + n * period - time.monotonic()))
            return got
        finally:
            cap.release()

    def _folder(self) -> bool:
        import cv2

        files = sorted(p for p in Path(self.source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            self._fault(f"no images in {self.source}")
            return False
        got = False
        while not self._stop.is_set():
            for p in files:
                image = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if image is None or image.size == 0:
                    self._fault(f"{p.name}: not a readable image (empty or corrupt); skipped")
                    continue
                got = True
                self._put(image)
                if self._stop.wait(1.0 / self.folder_fps):
                    return got
            if not self.loop_files:
                return got
            files = [p for p in files if p.exists()]
            if not got:
                return False
        return got


class ChangeDetector:
    """Has the picture changed? Mean absolute difference of a small grey thumbnail (0..255)."""

    def __init__(self, threshold: float = 3.0, size: int = 32) -> None:
        self.threshold = threshold
        self.size = size
        self._last: np.ndarray | None = None
        self.skipped = 0

    def changed(self, image: np.ndarray) -> bool:
        import cv2

        grey = cv2.cvtColor(cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY).astype(np.float32)
        if self._last is not None and float(np.mean(np.abs(grey - self._last))) < self.threshold:
            self.skipped += 1
            return False
        self._last = grey
        return True


class Sampler:
    """VideoFrames from a camera's slot: `active_fps` while `active()` (the user is speaking, or waits for a reply),
    `idle_fps` otherwise; a picture like the last one is marked unchanged (it costs no analysis
    but keeps the scene fresh); the camera's faults become ErrorEvents."""

    def __init__(self, camera: Camera, *, idle_fps: float = 0.3, active_fps: float = 1.0,
                 active: Callable[[], bool] = lambda: False, change: ChangeDetector | None = None,
                 stale_s: float = 5.0) -> None:
        self.camera = camera
        self.stale_s = stale_s
        self.idle_fps = idle_fps
        self.active_fps = active_fps
        self.active = active
        self.change = change if change is not None else ChangeDetector()
        self.sampled = 0

    async def frames(self, stop: asyncio.Event) -> AsyncIterator[Frame]:
        last_seq = -1
        since, stale = time.monotonic(), False
        while not stop.is_set():
            while self.camera.faults:
                yield ErrorEvent(stage="camera", message=f"{self.camera.source}: {self.camera.faults.popleft()}")
            shot = self.camera.latest()
            newest = shot.captured if shot is not None else since
            if not stale and time.monotonic() - newest > self.stale_s:
                stale = True
                yield ErrorEvent(stage="camera", message=f"{self.camera.source}: no new picture for "
                                 f"{time.monotonic() - newest:.0f} s")
            elif stale and time.monotonic() - newest <= self.stale_s:
                stale = False
                yield ErrorEvent(stage="camera", message=f"{self.camera.source}: pictures are coming again")
            if shot is not None and shot.seq != last_seq:
                last_seq = shot.seq
                # a thumbnail of a full frame: ~2 ms, not on the event loop
                changed = await asyncio.to_thread(self.change.changed, shot.image)
                self.sampled += changed
                yield VideoFrame(image=shot.image, captured=shot.captured, seq=shot.seq,
                                 source=self.camera.source, changed=changed)
            # wait for the next sample in short steps: the rate follows the user at once, and
            # the first picture is taken as soon as the camera has one
            taken = time.monotonic()
            while not stop.is_set():
                fps = self.active_fps if self.active() else self.idle_fps
                due = taken + 1.0 / fps if shot is not None else taken + 0.05
                if time.monotonic() >= due:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), min(0.1, due - time.monotonic()))
                except TimeoutError:
                    pass


async def camera_frames(sampler: Sampler) -> AsyncIterator[Frame]:
    """The sampler's frames (and the camera's faults as ErrorEvents) until closed; the camera's
    thread is started here and stopped when the iterator is closed (a pipeline's branch)."""
    stop = asyncio.Event()
    sampler.camera.start()
    try:
        async for f in sampler.frames(stop):
            yield f
    finally:
        stop.set()
        await asyncio.to_thread(sampler.camera.stop)


async def with_camera(audio: AsyncIterator[Frame], sampler: Sampler) -> AsyncIterator[Frame]:
    """The audio source with the sampler's frames slipped in between its chunks (the newest
    few only: a frame that waited is replaced, never queued). Ends with the audio; the camera's
    thread is started here and stopped at the end."""
    stop = asyncio.Event()
    waiting: collections.deque[Frame] = collections.deque(maxlen=4)

    async def look() -> None:
        async for f in sampler.frames(stop):
            waiting.append(f)

    sampler.camera.start()
    task = asyncio.get_running_loop().create_task(look(), name="camera")
    try:
        async for frame in audio:
            while waiting:
                yield waiting.popleft()
            yield frame
    finally:
        stop.set()
        await asyncio.wait({task})
        await asyncio.to_thread(sampler.camera.stop)


class PushedCamera(Camera):
    """A camera whose pictures are pushed in (a browser's, over the Realtime API): the same slot,
    scaling and sampling as a device's, with no capture thread of its own to fail."""

    def __init__(self, *, max_side: int = 1280, name: str = "pushed") -> None:
        super().__init__(name, max_side=max_side)

    def push(self, image: np.ndarray) -> None:
        """A BGR (or grey, or BGRA) picture, any size: it is the newest in the slot."""
        self._put(image)

    def _run(self) -> None:
        self._stop.wait()
