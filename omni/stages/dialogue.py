"""The dialogue stage: a transcript in, the reply streamed out token by token, history kept."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import Field

from omni.engines.llama_local import LlamaChat, LlamaSettings, Message
from omni.frames import Frame, ReplyDone, ReplyToken, Transcript
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch, Worker
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are omni, a helpful voice assistant. The user speaks to you and hears your reply. "
    "Reply to what the user says in one or two short, natural sentences. Never repeat the "
    "user's words back; answer or act on them. Use no lists, markdown or code. "
    "If you do not know, say so."
)


class LocalLLMOptions(StageOptions):
    model: str = "qwen2.5-coder-0.5b"
    """Bundled name, a path to a GGUF file, or a hub id `org/repo/file.gguf`."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = Field(80, ge=1, le=4096)
    temperature: float = Field(0.2, ge=0, le=2)
    n_ctx: int = Field(2048, ge=256)
    threads: int = Field(2, ge=1, le=64)
    history_turns: int = Field(6, ge=0)
    """At most this many past exchanges stay in the prompt. When full, the older half is
    dropped at once, so the cached prompt prefix changes every few turns, not every turn."""


class LocalLLM(Processor):
    """Transcript -> ReplyToken* then ReplyDone."""

    Options = LocalLLMOptions
    options: LocalLLMOptions
    handles = (Transcript,)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=8)

    def __init__(self, name: str, options: LocalLLMOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        o = self.options
        self.engine = LlamaChat(LlamaSettings(model=o.model, n_ctx=o.n_ctx, threads=o.threads,
                                              max_tokens=o.max_tokens, temperature=o.temperature))
        self._worker = Worker(f"{name}-llm")
        self.history: list[Message] = []

    async def load(self, progress: ProgressFn) -> None:
        await self._worker.call(self.engine.load, progress)
        progress("caching the system prompt", None)
        await self._worker.call(self.engine.prime, [self._system()])

    async def aclose(self) -> None:
        self._worker.shutdown()

    def _system(self) -> Message:
        return {"role": "system", "content": self.options.system_prompt}

    def messages(self, user_text: str) -> list[Message]:
        return [self._system(), *self.history, {"role": "user", "content": user_text}]

    def remember(self, user_text: str, reply: str) -> None:
        """Add an exchange; trim the oldest half when the history is full."""
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}]
        n = self.options.history_turns
        if len(self.history) > 2 * n:
            keep = n // 2
            self.history = self.history[-2 * keep:] if keep else []

    async def process(self, frame: Transcript) -> AsyncIterator[Frame]:
        turn = frame.turn
        if not frame.text.strip():
            yield ReplyDone(turn=turn, text="", reason="empty")
            return
        sw = Stopwatch()
        parts: list[str] = []
        first_ms: float | None = None
        # generation pauses between tokens while TTS speaks the first sentence (omni.runtime.cpu)
        stream = self._worker.stream(lambda: self.cpu.gate(self.engine.stream(self.messages(frame.text))))
        try:
            async with contextlib.aclosing(stream):
                async for piece in stream:
                    if first_ms is None:
                        first_ms = sw.ms
                    parts.append(piece)
                    yield ReplyToken(turn=turn, text=piece)
        finally:
            # the history keeps what was generated, even if the turn was cut short
            reply = "".join(parts).strip()
            self.remember(frame.text, reply)
        st = self.engine.last
        self.report(turn, first_ms if first_ms is not None else sw.ms, total_ms=round(sw.ms, 1),
                    prompt_tokens=st.prompt_tokens, cached_tokens=st.cached_tokens,
                    completion_tokens=st.completion_tokens)
        log.info("turn %d reply: %r", turn.id, reply, extra={"stage": self.name, "turn": turn.id})
        yield ReplyDone(turn=turn, text=reply, reason="complete" if reply else "empty")
