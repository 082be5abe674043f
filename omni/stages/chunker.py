"""Sentence chunker: streamed reply tokens in, speakable sentences out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import Field

from omni.frames import Frame, ReplyDone, ReplySentence, ReplyToken, Turn
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch

_ABBREV = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "approx"}
# a "!" or "?" ends a sentence as soon as it comes (a "." may be "3." of "3.5", or "Dr.")
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|[!?]+[\"')\]]*$|[\n]+")
_WORD = re.compile(r"[^\W\d_]{2}")
"""Two letters in a row: a piece without them is a number alone ("2024.", a list's "10.")."""
_CLAUSE = re.compile(r"[,;:—–](?=\s)")
_MARKUP = re.compile(r"[*_`#>]+|\[(.*?)\]\(.*?\)")


def clean(text: str) -> str:
    """Strip markdown the TTS would read aloud; fold white space."""
    text = _MARKUP.sub(lambda m: m.group(1) or "", text)
    # a mark left over from the sentence before ("?" taken as its end, then "!" of "?!")
    return re.sub(r"\s+", " ", text).strip().lstrip("!?)]\"'’”» ")


class SentenceChunkerOptions(StageOptions):
    min_chars: int = Field(12, ge=1)
    """A sentence shorter than this waits to be joined with the next."""
    first_min_chars: int = Field(4, ge=1)
    """The same for the reply's first sentence: a short one goes out alone, for an earlier first
    sound ("Goodbye!" before "I'm here if you need anything.")."""
    first_clause_chars: int = Field(60, ge=10)
    """The first piece may end at a comma once it is this long (an earlier first sound)."""


class SentenceChunker(Processor):
    """ReplyToken* -> ReplySentence*; passes ReplyDone on after the last sentence."""

    Options = SentenceChunkerOptions
    options: SentenceChunkerOptions
    handles = (ReplyToken, ReplyDone)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=256)

    def __init__(self, name: str, options: SentenceChunkerOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._buf: dict[int, str] = {}
        self._index: dict[int, int] = {}
        self._started: dict[int, Stopwatch] = {}

    async def process(self, frame: ReplyToken | ReplyDone) -> AsyncIterator[Frame]:
        turn = frame.turn
        if isinstance(frame, ReplyToken):
            self._started.setdefault(turn.id, Stopwatch())
            buf = self._buf.get(turn.id, "") + frame.text
            while (cut := self._cut(buf, first=self._index.get(turn.id, 0) == 0)) is not None:
                piece, buf = buf[:cut], buf[cut:]
                for out in self._emit(turn, piece):
                    yield out
            self._buf[turn.id] = buf
        else:
            for out in self._emit(turn, self._buf.pop(turn.id, "")):
                yield out
            self._index.pop(turn.id, None)
            self._started.pop(turn.id, None)
            yield frame

    def _emit(self, turn: Turn, piece: str) -> list[Frame]:
        text = clean(piece)
        if not any(c.isalnum() for c in text):
            return []
        i = self._index.get(turn.id, 0)
        self._index[turn.id] = i + 1
        if i == 0 and turn.id in self._started:
            self.report(turn, self._started[turn.id].ms)
        return [ReplySentence(turn=turn, text=text, index=i)]

    def _cut(self, buf: str, *, first: bool) -> int | None:
        """Index just past the first complete sentence in `buf`, or None."""
        for m in _END.finditer(buf):
            end = m.end()
            piece = buf[:end].strip()
            if len(piece) < (self.options.first_min_chars if first else self.options.min_chars) \
                    or not _WORD.search(piece):
                continue
            word = re.findall(r"([\w.]+)[.]$", piece)
            if word and word[-1].lower().rstrip(".") in _ABBREV:
                continue
            return end
        if first and len(buf) >= self.options.first_clause_chars:
            m = next((m for m in _CLAUSE.finditer(buf) if m.end() >= self.options.min_chars), None)
            if m:
                return m.end()
        return None
