"""The continuous scene tier: what the bundled offline models can tell about a camera frame.

Text read by OCR, faces, ImageNet labels with their probabilities, a caption when a captioning
model is configured, and the frame's brightness. `describe` turns a scene into the note the
dialogue gets (with its age); `read_answer` and `look_answer` are what the on-demand tier says
when no vision-language model is configured, including what it is unsure of.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omni.dialogue.prompts import QUOTED_WRITING
from omni.frames.vision import Label, SceneFrame, VideoFrame
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


VIEW_WORDS = (
    # a demonstrative, but not one that points back at what was said ("thanks, that was helpful")
    (r"(this|that|these|those)(?![\w'’])(?!,?\s+(is|was|sounds?|would|will|makes?|means?|seems?|helps?|helped"
     r"|works?|worked)\b)"),
    "here", "see", "look", "watch", "show", "view", "front", "camera", "picture", "read", "sign", "written", "say",
    "hold", "wear", "stove", "door", "screen", "label", r"colou?rs? (is|are) (my|his|her|their)\b")
"""Words that point at what the user sees: regular expressions matched at the start of a word
("look" is also looking). Not "who", "what's" or "colour": "who wrote Hamlet?", "what's the
time?", "what colour is the sky?" are not about the view; "what colour is this/my shirt?" is."""


class SceneOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ocr: Literal["pp-ocrv4"] | None = "pp-ocrv4"
    """Read text (null: off)."""
    labels: str | None = "mobilenet-v2"
    """ImageNet classifier: mobilenet-v2 (bundled) or a path to torchvision MobileNetV2 weights."""
    faces: Literal["haar"] | None = "haar"
    caption: str | None = None
    """A vision-language model (hub id or local folder) to caption each scene; slow on a CPU."""
    top_k: int = Field(3, ge=1, le=10)
    min_label_score: float = Field(0.05, ge=0, le=1)
    """Labels below this probability are not kept."""
    threads: int = Field(1, ge=1, le=8)
    """CPU threads for the vision models: the rest of the machine belongs to the voice."""
    nice: int = Field(10, ge=0, le=19)
    """How far the vision thread stands back when the CPU is short (its Linux niceness; 0: not at
    all): an analysis running when the user stops speaking then slows down, not the voice."""
    dark_level: float = Field(12.0, ge=0, le=255)
    """Mean grey level below which the camera is reported as dark (covered, black frames)."""
    tell_when_said: list[str] = Field(default_factory=lambda: list(VIEW_WORDS))
    """The dialogue's model hears about the scene only in turns with a word that starts with one of
    these (regular expressions, see VIEW_WORDS); empty: in every turn. A scene note is ~40 prompt tokens:
    on 2 cores ~150 ms more before the first word of every reply."""

    @field_validator("tell_when_said")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for w in v:
            try:
                re.compile(w)
            except re.error as e:
                raise ValueError(f"tell_when_said: {w!r} is not a regular expression ({e})") from None
        return v


def _article(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


class SceneAnalyzer:
    """Runs the configured models on a frame (in the caller's thread: call it from a worker)."""

    def __init__(self, opts: SceneOptions) -> None:
        self.opts = opts
        self.ocr = None
        self.classifier = None
        self.faces = None
        self.captioner = None

    def load(self, progress: ProgressFn) -> None:
        import cv2

        from omni.models.catalog import resolve

        cv2.setNumThreads(self.opts.threads)
        if self.opts.ocr:
            from omni.vision.ocr import Ocr

            progress("loading OCR (PP-OCRv4)", None)
            self.ocr = Ocr(threads=self.opts.threads)
            self.ocr.load()
        if self.opts.labels:
            from omni.vision.mobilenet import MobileNetV2

            progress(f"loading the image classifier ({self.opts.labels})", None)
            self.classifier = MobileNetV2.load(resolve("labels", self.opts.labels, progress).location)
        if self.opts.faces:
            from omni.vision.faces import FaceDetector

            self.faces = FaceDetector()
            self.faces.load()
        if self.opts.caption:
            from omni.vision.vlm import Vlm, VlmOptions

            self.captioner = Vlm(VlmOptions(model=self.opts.caption, threads=self.opts.threads, max_new_tokens=30))
            self.captioner.load(progress)

    def analyze(self, frame: VideoFrame) -> SceneFrame:
        img = frame.image
        ms: dict[str, float] = {}

        def timed(name: str, fn, *args):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            out = fn(*args)
            ms[name] = round((time.perf_counter() - t0) * 1000, 1)
            return out

        brightness = float(np.mean(img[::4, ::4]))
        dark = brightness < self.opts.dark_level
        text = tuple(timed("ocr", self.ocr.read, img)) if self.ocr and not dark else ()
        labels: tuple[Label, ...] = ()
        if self.classifier is not None and not dark:
            top = timed("labels", self.classifier.top, img, self.opts.top_k)
            labels = tuple(Label(n, round(p, 3)) for n, p in top if p >= self.opts.min_label_score)
        faces = tuple(timed("faces", self.faces.detect, img)) if self.faces and not dark else ()
        caption = None
        if self.captioner is not None and not dark:
            caption = timed("caption", self.captioner.answer, img, "Describe this picture in one sentence.")
        h, w = img.shape[:2]
        return SceneFrame(captured=frame.captured, seq=frame.seq, source=frame.source, size=(w, h), text=text,
                          labels=labels, faces=faces, caption=caption, brightness=round(brightness, 1), dark=dark,
                          ms=ms)

    def close(self) -> None:
        if self.captioner is not None:
            self.captioner.close()


# words -------------------------------------------------------------------------------------

def seen_text(scene: SceneFrame) -> str:
    return " / ".join(line.text for line in scene.text)


def describe(scene: SceneFrame) -> str:
    """The note the dialogue gets about the scene (its age is added by the dialogue's memory):
    whole sentences, which a small model is less inclined to copy into a reply than a label."""
    if scene.dark:
        return "The user's camera shows nothing: the picture is black."
    seen = []
    if scene.caption:
        seen.append(scene.caption.rstrip("."))
    elif scene.labels:
        best = scene.labels[0]
        sure = "probably" if best.score >= 0.6 else "possibly"
        seen.append(f"{sure} {_article(best.name)} ({best.score:.0%})")
    if scene.faces:
        seen.append("one face" if len(scene.faces) == 1 else f"{len(scene.faces)} faces")
    quoted = seen_text(scene).replace('"', "'") if scene.text else ""
    if not seen:
        return ("The user's camera shows nothing recognisable" + (
            f", only writing, which reads {QUOTED_WRITING}: \"{quoted}\"."
            if quoted else "."))
    note = "The user's camera shows " + ", ".join(seen) + "."
    if quoted:  # data, not instructions: quoted, and said to be what a sign says, not the user
        note += f' Writing in view reads {QUOTED_WRITING}: "{quoted}".'
    return note


def read_answer(scene: SceneFrame) -> str:
    """"Read that": the text in view, or why there is none."""
    if scene.dark:
        return "I can't see anything: the camera picture is black."
    if not scene.text:
        return "I can't make out any text there."
    lines = [line.text for line in scene.text]
    unsure = min(line.score for line in scene.text) < 0.8
    said = ". ".join(line.rstrip(".") for line in lines) + "."
    return f"It says: {said}" + (" Some of it is hard to read, so I may have it wrong." if unsure else "")


def look_answer(scene: SceneFrame) -> str:
    """"What am I looking at": labels and faces (and text), saying how sure it is."""
    if scene.dark:
        return "I can't see anything: the camera picture is black."
    out = []
    if scene.caption:
        out.append(scene.caption.rstrip(".") + ".")
    elif scene.labels:
        best = scene.labels[0]
        others = [lb.name for lb in scene.labels[1:] if lb.score >= 0.1]
        if best.score >= 0.6:
            # not "It looks like…": a small model copies the form into later answers from the
            # history ("What is the capital of France?" -> "It looks like Paris.")
            out.append(f"I see what looks like {_article(best.name)}.")
        elif best.score >= 0.25:
            alt = f", or maybe {_article(others[0])}" if others else ""
            out.append(f"I see something that might be {_article(best.name)}{alt}, but I'm not sure.")
        else:
            out.append(f"I can't tell what it is; my best guess is {_article(best.name)}.")
    if scene.faces:
        n = len(scene.faces)
        out.append(("I see a face." if n == 1 else f"I see {n} faces.") if not out else
                   ("There is a face." if n == 1 else f"There are {n} faces."))
    if scene.text:
        out.append(f"There is some text: {seen_text(scene)}.")
    return " ".join(out) or "I can't make out anything I recognise."
