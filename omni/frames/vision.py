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
    changed: bool = True
    """False: the picture looks like the last one that was passed on (the scene seen in that one
    still holds, as of this frame's capture time; nothing needs analysing again)."""


@dataclass(frozen=True)
class TextLine:
    """A line of text read in a picture."""

    text: str
    score: float
    """The recognizer's confidence, 0..1."""
    box: tuple[int, int, int, int]
    """x, y, width, height in the frame's pixels."""


@dataclass(frozen=True)
class Label:
    """What the whole picture may show (an ImageNet class), with the classifier's probability."""

    name: str
    score: float


@dataclass(frozen=True, kw_only=True, eq=False)
class SceneFrame(Frame):
    """What the continuous scene tier saw in one camera frame (t = when the analysis ended)."""

    captured: float
    """Monotonic time the camera delivered the frame: the scene's age is measured from it."""
    seq: int
    """The camera's frame number."""
    source: str
    """Which camera."""
    size: tuple[int, int]
    """Width and height of the analysed frame."""
    text: tuple[TextLine, ...] = ()
    """Text read by OCR, top to bottom."""
    labels: tuple[Label, ...] = ()
    """Most likely ImageNet classes, best first (only those above the analyser's floor)."""
    faces: tuple[tuple[int, int, int, int], ...] = ()
    """Face boxes (x, y, width, height)."""
    caption: str | None = None
    """A sentence from a captioning model, when one is configured."""
    brightness: float = 0.0
    """Mean grey level 0..255 (a black or covered camera is near 0)."""
    dark: bool = False
    """Too dark to see anything (brightness under the analyser's `dark_level`): nothing was guessed."""
    ms: dict[str, float] | None = None
    """Milliseconds each part of the analysis took (ocr, labels, faces, caption)."""
