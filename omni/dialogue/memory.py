"""Conversation memory: the system prompt, a history bounded by tokens, and live context.

The history holds whole exchanges (user text, assistant reply). When it exceeds `max_tokens`,
the oldest exchanges are dropped until it is back under half the budget, so the prompt prefix
(and the KV cache behind it) changes once every few turns, not every turn. Dropped exchanges
leave a one-line trace in a running summary inside the system prompt ("Earlier: the user asked
about X; you said Y"), itself bounded by `summary_chars`.

Context (the latest camera caption, a sensor reading) is injected just before the user's turn as
a system note with its age; past `max_age_s` the note says the information is stale instead of
presenting it as current.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.prompts import NOTES_HEADER, STALE_NOTE
from omni.dialogue.types import Message




class MemoryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(800, ge=0)
    """Token budget of the history (system prompt and tools not included)."""
    summarize: bool = True
    """Keep a short trace of dropped exchanges in the system prompt."""
    summary_chars: int = Field(400, ge=0)
    context_max_age_s: float = Field(10.0, gt=0)
    """Context older than this is reported as stale."""
    news_exchanges: int | None = Field(None, ge=0)
    """A turn that tells something (omni.dialogue.asks.tells) sees only this many of the last
    exchanges (None: the whole history)."""


@dataclass
class ContextItem:
    text: str
    captured: float
    when_said: tuple[str, ...] = ()


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    """Whether a word of `text` starts with one of `words`; each is a regular expression ("colo":
    color and colour; "that(?! was)": "that", not "that was")."""
    low = text.lower()
    return any(re.search(rf"(?<![\w']){w}", low) for w in words)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


class Memory:
    def __init__(self, system_prompt: str, opts: MemoryOptions,
                 count: Callable[[str], int] = lambda s: max(1, len(s) // 4)) -> None:
        self.system_prompt = system_prompt
        self.opts = opts
        self.count = count
        self.history: list[Message] = []
        self.summary = ""
        self.context: dict[str, ContextItem] = {}
        self._tokens: list[int] = []
        """Tokens per history exchange (parallel to pairs of history messages)."""
        self._turns: dict[int, Message] = {}
        """The assistant message of each recent turn, for amend_reply."""

    def system(self) -> Message:
        text = self.system_prompt
        if self.summary:
            text += "\nEarlier in this conversation: " + self.summary
        return {"role": "system", "content": text}

    def set_context(self, source: str, text: str, captured: float, when_said: tuple[str, ...] = ()) -> None:
        self.context[source] = ContextItem(text, captured, when_said)

    def context_notes(self, now: float | None = None, user_text: str | None = None) -> list[Message]:
        """Notes for the context items, with their age; with `user_text`, only those whose
        `when_said` words it mentions (or that have none)."""
        now = time.monotonic() if now is None else now
        notes = []
        for source, item in sorted(self.context.items()):
            if user_text is not None and item.when_said and not _mentions(user_text, item.when_said):
                continue
            age = max(0.0, now - item.captured)
            if age <= self.opts.context_max_age_s:
                notes.append(f"[{source}, {age:.0f} s ago] {item.text}")
            else:
                notes.append(STALE_NOTE.format(source=source, age=age))
        if not notes:
            return []
        return [{"role": "system", "content": NOTES_HEADER + "\n" + "\n".join(notes)}]

    def prefix(self) -> list[Message]:
        """What the next turn's prompt starts with (system prompt and history)."""
        return [self.system(), *self._said()]

    def messages(self, user_text: str, now: float | None = None, last: int | None = None) -> list[Message]:
        """The prompt for a new user turn: system, history (only the `last` exchanges, if given),
        context notes, the turn itself."""
        start = 0 if last is None else max(0, len(self.history) - 2 * last)  # (exchanges are pairs)
        return [self.system(), *self._said(self.history[start:]), *self.context_notes(now, user_text),
                {"role": "user", "content": user_text}]

    def last_reply(self) -> str:
        """The assistant's last words in the history ("" if none)."""
        return next((m.get("content") or "" for m in reversed(self.history) if m.get("role") == "assistant"), "")

    def _said(self, history: list[Message] | None = None) -> list[Message]:
        """The history (or a tail of its exchanges) as the model reads it: an empty side of an
        exchange added from outside (a message with no answer, or an answer with no question) is
        left out."""
        return [m for m in (self.history if history is None else history) if m["content"]]

    @property
    def tokens(self) -> int:
        return sum(self._tokens)

    def add(self, user_text: str, reply: str, turn: int | None = None) -> None:
        """Remember an exchange (the reply as far as it was produced)."""
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}]
        self._tokens.append(self.count(user_text) + self.count(reply) + 8)
        if turn is not None:
            self._turns[turn] = self.history[-1]
            while len(self._turns) > 64:
                del self._turns[next(iter(self._turns))]
        if self.tokens > self.opts.max_tokens:
            self._trim()

    def amend_reply(self, turn: int, heard: str) -> bool:
        """Replace the reply of `turn` by the part the user heard before interrupting (an
        empty part becomes a note that the user interrupted at once). False if forgotten."""
        msg = self._turns.get(turn)  # kept: a client may still truncate or delete it
        if msg is None or not any(m is msg for m in self.history):
            return False
        # an ellipsis marks the cut; a bracketed note here was copied into later replies by a
        # small model ("The train station from here is [the user interrupted]")
        heard = heard.strip()
        msg["content"] = heard if heard.endswith(("…", ".", "!", "?")) else heard + "…"
        return True

    def edit(self, turn: int, user: str | None = None, reply: str | None = None) -> bool:
        """Replace a side of `turn`'s exchange (a client's truncate or delete; "" hides that side
        from the model). False if the turn is forgotten (trimmed, or one of more than the last 64)."""
        msg = self._turns.get(turn)
        i = next((i for i, m in enumerate(self.history) if m is msg), None)
        if msg is None or i is None or i < 1:
            return False
        if user is not None:
            self.history[i - 1]["content"] = user.strip()
        if reply is not None:
            msg["content"] = reply.strip()
        self._tokens[(i - 1) // 2] = self.count(self.history[i - 1]["content"]) + self.count(msg["content"]) + 8
        return True

    def forget_reply(self, turn: int) -> bool:
        """Drop the exchange of `turn` (its user message and reply). False if forgotten."""
        msg = self._turns.pop(turn, None)
        i = next((i for i, m in enumerate(self.history) if m is msg), None)
        if msg is None or i is None or i < 1:
            return False
        del self.history[i - 1:i + 1]
        del self._tokens[(i - 1) // 2]
        return True

    def _trim(self) -> None:
        dropped: list[str] = []
        while self._tokens and self.tokens > self.opts.max_tokens // 2:
            user, reply = self.history[0]["content"], self.history[1]["content"]
            del self.history[:2]
            del self._tokens[0]
            dropped.append(f"the user said \"{_clip(user, 60)}\" and you replied \"{_clip(reply, 60)}\"")
        if self.opts.summarize and dropped:
            s = "; ".join(filter(None, [self.summary, *dropped]))
            # keep the most recent part of the trace within its bound
            self.summary = s[-self.opts.summary_chars:].split("; ", 1)[-1] if len(s) > self.opts.summary_chars else s
