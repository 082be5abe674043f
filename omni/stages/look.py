"""The look stage (tier 2, on demand): visual questions answered from what the camera sees.

A final transcript that asks about the view ("what am I looking at", "read that sign", "is the
stove on") is answered here and goes no further; every other frame passes on to the dialogue.
With a vision-language model configured, the question and the latest camera frame go to it (in
a worker thread, streamed token by token, cancelled by a barge-in). Without one, the answer
comes from the latest scene: its OCR text for "read that", labels and faces for "what is this",
saying what it is unsure of. A scene older than `max_age_s` is never presented as current.
While the camera is sending pictures and the scene is not current (the first picture is still
being read, the view changed), the question waits for the next scene, at most `wait_s`; after
that, or with no camera, the assistant says it cannot see well right now.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import Field

from omni.dialogue.address import said_to_other
from omni.frames import Answered, EndOfStream, Frame, ReplyDone, ReplyToken, SceneFrame, Transcript, Turn, VideoFrame
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch
from omni.runtime.engines import Shared, options_key
from omni.runtime.floor import until
from omni.runtime.stage import ProgressFn
from omni.vision.scene import look_answer, read_answer
from omni.vision.vlm import Vlm, VlmOptions

log = logging.getLogger(__name__)

READ = [r"\bread (that|this|it|the|out|what)\b", r"\bwhat does (it|that|this|the \w+) say\b",
        r"\bwhat('s| is) (written|on the sign)\b", r"^read\b"]
LOOK = [r"\bwhat (am i|are we|i'm) looking at\b", r"\bwhat('s| is) (this|that|in front of (me|us))\b",
        r"\bwhat (do|can) you see\b", r"\bcan you see\b", r"\blook(ing)? at (this|that)\b",
        r"\bdescribe (this|that|what)\b", r"\bwho('s| is) (this|that)\b",
        r"^(is|are) the \w+( \w+)? (on|off|open|closed)\b"]


# with text in view, a question that points at something and asks what it says (in whatever
# words, or heard wrong: "what does that time say") is a request to read it
POINTS = r"\b(that|this|there|it|these|those|here)\b"
ABOUT_TEXT = (r"\b(say|says|saying|said|written|writing|write|read|reads|sign|signs|text|board|label|"
              r"words?|letters|printed|notice|poster|screen|menu|platform|number|name)\b")
WHICH = r"^(which|what) (?!(time|day|date|year|month|season)\b)\w+( \w+)? (is|are) (this|that|it|these|those|here)\b"
"""'Which platform is this', not 'what time is it' (asked with a sign in view, it was read out)."""


class LookOptions(StageOptions):
    vlm: VlmOptions | None = None
    """A vision-language model for open questions; null: answer from the scene tier."""
    max_age_s: float = Field(2.0, gt=0)
    """Freshness budget: an older scene or frame is not answered from."""
    read: list[str] = Field(default_factory=lambda: list(READ))
    """Patterns (regular expressions, lower case) of questions asking to read text."""
    look: list[str] = Field(default_factory=lambda: list(LOOK))
    """Patterns of other questions about the view."""
    text_in_view: bool = True
    """While the scene has text in it, a question that points at something ("that", "this",
    "there") and asks what it says or names ("sign", "written", "which platform is this") is
    read from the camera, whatever its exact words."""
    wait_s: float = Field(4.0, ge=0)
    """With the camera sending pictures and no current scene, how long a question about the view
    waits for the next one (0: answer at once). The scene stage stops giving way to the voice
    meanwhile."""
    stale_reply: str = "I can't see well right now: the camera hasn't given me a recent picture."


class LookStage(Processor):
    Options = LookOptions
    options: LookOptions
    handles = (Transcript, SceneFrame, VideoFrame)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=64)
    live_options: ClassVar[frozenset[str]] = frozenset({"max_age_s", "stale_reply"})

    def __init__(self, name: str, options: LookOptions | None = None, budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._read = [re.compile(p) for p in self.options.read]
        self._look = [re.compile(p) for p in self.options.look]
        self.vlm: Vlm | None = None
        """The process's VLM (shared by every session that names the same) once loaded."""
        self._shared: Shared[Vlm] | None = None
        self.scene: SceneFrame | None = None
        self.frame: VideoFrame | None = None
        self._waiting: tuple[Turn, str, str, float] | None = None
        """A question waiting for a current scene: (turn, question, kind, when it came)."""

    async def load(self, progress: ProgressFn) -> None:
        vo = self.options.vlm
        if vo is not None:
            def load(progress: ProgressFn) -> Vlm:
                vlm = Vlm(vo)
                vlm.load(progress)
                return vlm

            self._shared = await self.engines.get("vlm", options_key(vo), load, progress, user=self.name)
            self.vlm = self._shared.engine

    async def aclose(self) -> None:
        await self.release_engines()

    def kind(self, text: str) -> str | None:
        """read, look, or None for a question that is not about the view."""
        t = " ".join(re.findall(r"[a-z0-9']+", text.lower()))
        if any(p.search(t) for p in self._read):
            return "read"
        if self.options.text_in_view and self._text_in_view() and (
                (re.search(POINTS, t) and re.search(ABOUT_TEXT, t)) or re.search(WHICH, t)):
            return "read"
        if any(p.search(t) for p in self._look):
            return "look"
        return None

    def _text_in_view(self) -> bool:
        s = self.scene
        return s is not None and bool(s.text) and time.monotonic() - s.captured <= self.options.max_age_s

    async def process(self, frame: Transcript | SceneFrame | VideoFrame) -> AsyncIterator[Frame]:
        if isinstance(frame, (SceneFrame, VideoFrame)):
            if isinstance(frame, SceneFrame):
                self.scene = frame
            else:
                self.frame = frame
            yield frame
            w = self._waiting
            if w is not None and (self._current() or time.monotonic() >= self.wake_at()
                                  or self.floor.interrupted(w[0])):
                async for out in self._answer_waiting():
                    yield out
            return
        if self._waiting is not None and not frame.tentative:
            async for out in self._answer_waiting():  # a new turn: the old one waits no more
                yield out
        kind = self.kind(frame.text)
        if kind is None or (not frame.typed and said_to_other(frame.text)):
            # ("Mum, what's this?": said to someone else; the dialogue decides whether it is
            # answered, with what the pipeline says of the household)
            yield frame
            return
        if frame.tentative:
            return  # answered when the turn ends; the dialogue need not start on it
        if self._should_wait():
            self._waiting = (frame.turn, frame.text.strip(), kind, time.monotonic())
            self.floor.speech(frame.turn)  # a reply is owed from now: the user can interrupt it
            self.floor.wait_for_sight(frame.turn.id, True)
            log.info("turn %d: no current picture yet; waiting up to %.1f s for the camera's next scene",
                     frame.turn.id, self.options.wait_s, extra={"stage": self.name, "turn": frame.turn.id})
            return
        async for out in self._answer(frame.turn, frame.text.strip(), kind):
            yield out

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        if self._waiting is not None:
            async for out in self._answer_waiting():
                yield out

    def wake_at(self) -> float | None:
        """A waiting question's deadline: answered then, even if the camera has stopped sending."""
        return self._waiting[3] + self.options.wait_s if self._waiting is not None else None

    async def tick(self) -> AsyncIterator[Frame]:
        async for out in self._answer_waiting():
            yield out

    def _fresh(self, f: SceneFrame | VideoFrame | None) -> bool:
        return f is not None and time.monotonic() - f.captured <= self.options.max_age_s

    def _current(self) -> bool:
        """What an answer now would come from is current: the scene, or the frame for the VLM."""
        return self._fresh(self.frame) if self.vlm is not None else self._fresh(self.scene)

    def _should_wait(self) -> bool:
        """No current scene, while the camera sends pictures: the next scene is coming."""
        return self.options.wait_s > 0 and not self._current() and self._fresh(self.frame)

    async def _answer_waiting(self) -> AsyncIterator[Frame]:
        """The waiting question answered now, from what there is (its turn ends here whatever
        happens: interrupted, failed or answered)."""
        assert self._waiting is not None
        turn, question, kind, since = self._waiting
        self._waiting = None
        self.floor.wait_for_sight(turn.id, False)
        if self.floor.interrupted(turn):
            yield ReplyDone(turn=turn, text="", reason="interrupted")
            return
        waited_ms = round((time.monotonic() - since) * 1000, 1)
        try:
            async for out in self._answer(turn, question, kind, waited_ms=waited_ms):
                yield out
        except Exception as e:  # (the frame in hand is not this turn's: its error is reported here)
            log.exception("%s failed answering turn %d", self.name, turn.id, extra={"stage": self.name})
            yield self.error(f"{type(e).__name__}: {e}")
            yield ReplyDone(turn=turn, text="", reason="error")

    async def _answer(self, turn: Turn, question: str, kind: str, waited_ms: float = 0.0) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        speech = self.floor.speech(turn)
        now = time.monotonic()
        max_age = self.options.max_age_s
        parts: list[str] = []
        if self.vlm is not None and self.frame is not None and now - self.frame.captured <= max_age:
            age_ms = (now - self.frame.captured) * 1000
            image = self.frame.image
            source = "vlm"
            first_ms = None
            assert self._shared is not None
            stream = self._shared.stream(lambda: self.vlm.stream(image, question))  # type: ignore[union-attr]
            async with contextlib.aclosing(until(speech.interrupted, stream)) as g:
                async for text in g:
                    first_ms = sw.ms if first_ms is None else first_ms
                    parts.append(text)
                    yield ReplyToken(turn=turn, text=text)
            if not "".join(parts).strip():
                parts.append("I can't tell.")
                yield ReplyToken(turn=turn, text=parts[-1])
        else:
            scene = self.scene
            if scene is None or now - scene.captured > max_age:
                age_ms = None if scene is None else (now - scene.captured) * 1000
                source = "stale"
                answer = self.options.stale_reply
            else:
                age_ms = (now - scene.captured) * 1000
                source = "scene"
                answer = read_answer(scene) if kind == "read" else look_answer(scene)
            first_ms = sw.ms
            parts.append(answer)
            yield ReplyToken(turn=turn, text=answer)
        reply = "".join(parts).strip()
        self.report(turn, first_ms if first_ms is not None else sw.ms, backend=f"vision:{source}", reason=kind,
                    scene_age_ms=None if age_ms is None else round(age_ms, 1), total_ms=round(sw.ms, 1),
                    waited_for_sight_ms=waited_ms)
        log.info("turn %d %s question answered from %s (%s): %r", turn.id, kind, source,
                 "no picture" if age_ms is None else f"{age_ms:.0f} ms old", reply,
                 extra={"stage": self.name, "turn": turn.id})
        yield ReplyDone(turn=turn, text=reply, reason="interrupted" if speech.is_interrupted else "complete")
        if reply and not speech.is_interrupted:
            yield Answered(turn=turn, text=question, reply=reply)  # for the dialogue's history
