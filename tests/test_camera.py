"""The camera: video files, image folders and broken sources, read into a latest-frame slot and
sampled at an adaptive rate with unchanged pictures skipped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2
import numpy as np

from omni.frames import ErrorEvent
from omni.frames.vision import VideoFrame
from omni.vision.camera import Camera, ChangeDetector, Sampler


def video(path: Path, seconds: float, fps: int = 30, moving: bool = True, size=(320, 240)) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(int(seconds * fps)):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        x = (i * 4) % (size[0] - 40) if moving else 10
        cv2.rectangle(img, (x, 100), (x + 40, 140), (0, 200, 255), -1)
        cv2.putText(img, f"{i}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        w.write(img)
    w.release()
    return path


async def collect(sampler: Sampler, seconds: float, until=None) -> list:
    """The sampler's frames over `seconds`; with `until`, as soon as until(frames) holds (and
    failing if it does not within `seconds`)."""
    stop = asyncio.Event()
    out: list = []
    done = asyncio.Event()

    async def run() -> None:
        async for f in sampler.frames(stop):
            out.append(f)
            if until is not None and until(out):
                done.set()
    task = asyncio.get_running_loop().create_task(run())
    try:
        await asyncio.wait_for(done.wait(), seconds)
    except asyncio.TimeoutError:
        assert until is None, f"not seen in {seconds} s: {out}"
    stop.set()
    await task
    return out


async def test_a_video_file_is_a_camera_whose_old_frames_are_dropped_not_queued(tmp_path: Path) -> None:
    cam = Camera(str(video(tmp_path / "v.avi", 2.0))).start()
    try:
        frames = [f for f in await collect(Sampler(cam, idle_fps=4), 1.6) if isinstance(f, VideoFrame)]
    finally:
        cam.stop()
    assert 4 <= len(frames) <= 8, len(frames)
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] > 20  # paced at 30 fps, sampled at 4
    assert cam.dropped > 20 and cam.read >= 40
    assert all(time.monotonic() - f.captured < 2.0 and f.image.shape == (240, 320, 3) for f in frames)


async def test_unchanged_pictures_are_skipped_and_active_sampling_is_faster(tmp_path: Path) -> None:
    cam = Camera(str(video(tmp_path / "still.avi", 2.0, moving=False))).start()
    try:
        still = Sampler(cam, idle_fps=5)
        frames = [f for f in await collect(still, 1.0) if isinstance(f, VideoFrame)]
        # only the frame counter in the corner changes: below the threshold, so marked unchanged
        changed = [f for f in frames if f.changed]
        assert len(changed) <= 2 and still.change.skipped >= 2, (len(changed), still.change.skipped)
        assert len(frames) - len(changed) == still.change.skipped
    finally:
        cam.stop()
    cam = Camera(str(video(tmp_path / "moving.avi", 3.0))).start()
    try:
        speaking = {"on": False}
        s = Sampler(cam, idle_fps=1, active_fps=8, active=lambda: speaking["on"])
        idle = [f for f in await collect(s, 1.0) if isinstance(f, VideoFrame)]
        speaking["on"] = True
        busy = [f for f in await collect(s, 1.0) if isinstance(f, VideoFrame)]
    finally:
        cam.stop()
    assert len(idle) <= 2 and len(busy) >= 5, (len(idle), len(busy))


def test_change_detector_threshold() -> None:
    d = ChangeDetector(threshold=3.0)
    a = np.zeros((100, 100, 3), np.uint8)
    b = a.copy()
    b[40:60, 40:60] = 255
    assert d.changed(a) and not d.changed(a.copy()) and d.changed(b)


async def test_folder_with_a_broken_image_and_a_4k_one(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    big = np.full((2160, 3840, 3), 80, np.uint8)
    cv2.putText(big, "4K", (1000, 1000), cv2.FONT_HERSHEY_SIMPLEX, 20, (255, 255, 255), 30)
    cv2.imwrite(str(folder / "a.png"), big)
    (folder / "b.jpg").write_bytes(b"")  # zero bytes
    cv2.imwrite(str(folder / "c.png"), np.full((240, 320, 3), 200, np.uint8))
    cam = Camera(str(folder), folder_fps=10, max_side=1280).start()
    try:
        out = await collect(Sampler(cam, idle_fps=20), 0.8)
    finally:
        cam.stop()
    frames = [f for f in out if isinstance(f, VideoFrame)]
    errors = [f.message for f in out if isinstance(f, ErrorEvent)]
    assert any("b.jpg" in m and "not a readable image" in m for m in errors), errors
    assert {f.image.shape for f in frames} >= {(720, 1280, 3), (240, 320, 3)}


async def test_a_corrupt_or_missing_source_is_reported_and_retried(tmp_path: Path) -> None:
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"RIFF" + bytes(range(256)) * 20)
    for source in (str(bad), str(tmp_path / "nope.mp4"), "rtsp://127.0.0.1:9/none"):
        cam = Camera(source, reopen_s=(0.1, 0.2)).start()
        try:
            out = await collect(Sampler(cam, idle_fps=10), 1.0)
        finally:
            t = time.monotonic()
            cam.stop()
            assert time.monotonic() - t < 5
        errors = [f for f in out if isinstance(f, ErrorEvent)]
        assert errors and not [f for f in out if isinstance(f, VideoFrame)], source
        assert cam.reopens >= 2, (source, cam.reopens)


async def test_a_camera_that_stops_delivering_is_reported_once_and_again_when_it_is_back() -> None:
    """A stream that hangs (no error, no frame): a stand-in for a camera this machine lacks,
    delivering two pictures, then nothing for a while, then pictures again."""
    from omni.vision.camera import Shot

    class Stalling(Camera):
        def __init__(self) -> None:
            super().__init__("stalling")
            self.t0 = time.monotonic()
            self.n = 0

        def start(self) -> Camera:  # no thread: the schedule below is the camera
            return self

        def latest(self) -> Shot | None:
            age = time.monotonic() - self.t0
            if age < 0.3 or age > 1.3:  # pictures, then 1 s of nothing, then pictures again
                self.n += 1
                return Shot(np.full((60, 80, 3), self.n % 255, np.uint8), time.monotonic(), self.n)
            return Shot(np.zeros((60, 80, 3), np.uint8), self.t0 + 0.3, 0) if self.n else None

    def back(out: list) -> bool:  # the second report, and a picture after it
        errors = [i for i, f in enumerate(out) if isinstance(f, ErrorEvent)]
        return len(errors) >= 2 and any(not isinstance(f, ErrorEvent) for f in out[errors[1]:])
    out = await collect(Sampler(Stalling(), idle_fps=20, stale_s=0.5), 20.0, until=back)
    msgs = [f.message for f in out if isinstance(f, ErrorEvent)]
    assert len(msgs) == 2 and "no new picture" in msgs[0] and "coming again" in msgs[1], msgs
