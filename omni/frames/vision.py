"""Vision frames: what the camera saw."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni.frames.base import Frame


@dataclass(frozen=True, kw_only=True, eq=False)
class VideoFrame(Frame):
    """One sampled camera frame (t = when it was sampled)."""

    image: np.ndarray
    """BGR uint8, H x W x 3 (OpenCV's layout), at most the camera's `max_side` on its long side."""
    captured: float
    """Monotonic time the camera delivered it: its age is `time.monotonic() - captured`."""
    seq: int
    """The camera's frame number (gaps are frames nobody sampled)."""
    source: str
    """Which camera (its source spec)."""
