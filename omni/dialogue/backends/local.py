"""The local backend: a GGUF chat model through llama.cpp, in its own worker thread."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from pydantic import Field

from omni.dialogue.backends.base import BackendOptions, ChatBackend
from omni.dialogue.prompts import TOOLS_FOCUS
from omni.dialogue.toolcalls import split_text_calls
from omni.dialogue.types import ChatRequest, Delta, Finished, Started, TextDelta, Usage
from omni.engines.llama_local import NO_SCHEMAS, LlamaChat, LlamaSettings
from omni.runtime import Worker
from omni.runtime.cpu import CpuPriority
from omni.runtime.stage import ProgressFn

class LlamaBackendOptions(BackendOptions):
    type: Literal["llama.cpp"] = "llama.cpp"
    tool_results: Literal["messages", "note"] = "note"
    model: str = "qwen2.5-coder-1.5b"
    """Bundled name, a path to a GGUF file, or a hub id `org/repo/file.gguf`."""
    n_ctx: int = Field(2048, ge=256)
    threads: int = Field(2, ge=1, le=64)
    tools_note: Literal["line", "template", "compact", "none"] = "line"
    """How offered tools are written into the prompt (omni.engines.llama_local.LlamaSettings):
    "line" (one line naming them, with what they do, before the user's words; the model answers
    in words, which the dialogue acts on), "template" (the chat template's words and the JSON
    schemas: 130-180 tokens a tool turn reads first, 2-3 s on 2 cores), "compact" or "none".
    Everyday set, seeds 7 and 8: useful dev / held 232 / 214 (line) against 232 / 216
    (template) of 258 / 254; the slowest tenth of replies starts within 0.75 s against 2.5 s
    (docs/benchmarks.md, twelfth session)."""
    tools_place: Literal["turn", "system"] = "turn"
    """With tools_note "template" or "compact" (not "line" or "none": there is no note), where
    the note goes: before the user's words, the offered tools only, read on the turn; or after the
    system prompt, all of them, read once and cached (omni.engines.llama_local.LlamaSettings).
    Everyday set over two seeds, held useful replies 215 (turn) / 214 (system, with
    tools_focus) of 254, dev 231 / 227; the slowest tenth of replies starts within 2.6 s /
    0.7 s; but with every tool in view a misheard remark of tests/test_replies.py got a reply
    about rooms (docs/benchmarks.md)."""
    tools_focus: bool = True
    """With tools_note "template" and tools_place "system": a line naming the offered tools
    before the user's words (with tools_note "line" that line, with what each tool does, is the
    whole note, whatever this says)
    (omni.engines.llama_local.LlamaSettings). Everyday set over two seeds, held useful replies
    214 with it, 211 without; its ~15 tokens are read on a tool turn (docs/benchmarks.md)."""
    seed: int = 7
    """The sampler's seed: a reply is the same for the same prompt, evaluated the same way (to
    judge a change by its figures over more than one draw: bench/quality.py --set)."""
    notes_ahead: bool = False
    """With tools_place "turn": between turns, read the start of every tools note ahead with the history (the whole note
    of the tools the next turn offers again is read ahead anyway: `note_again`)
    (omni.engines.llama_local.LlamaSettings).
    Off by default: the same prompt evaluated in other batches gives other replies; as many
    useful ones over two seeds of the everyday set, but a misheard remark of tests/test_replies.py
    got a reply off its topic at 2 of 3 seeds, and none without (docs/benchmarks.md)."""
    note_again: bool = True
    """With tools_place "turn" and notes_ahead off: after a turn that ran a tool, read the whole note of the tools the
    next turn offers again ahead ("and the bedroom?"), while the user listens. The note (~150-230
    tokens, 2-3 s on 2 cores) was otherwise read on the next turn, whatever it asked
    (docs/benchmarks.md)."""
    jump_forward: bool = True
    """A reply that opens a tool call: what the offered tools' schemas fix (keys, punctuation, a
    name or enum value once its start names it) is evaluated in one batch, not decoded a token at
    a time (omni.engines.jump_forward)."""

    no_repeat: int = Field(8, ge=0)
    """Asked for another or more, a reply that said an earlier one again is drawn once more: in
    that draw, no run of this many tokens of the conversation's earlier replies (the token that
    would complete one is never drawn; 0: no such ban). Drawn again hotter alone, the model told
    the same joke again (docs/dialogue.md). On every draw it did no good: held to it, "I don't
    have" came out as "I don’t have" and "I don t have" (docs/benchmarks.md)."""


class LlamaBackend(ChatBackend):
    continues = True
    offline = True
    options: LlamaBackendOptions

    def __init__(self, name: str, options: LlamaBackendOptions) -> None:
        super().__init__(name, options)
        self.engine = LlamaChat(LlamaSettings(model=options.model, n_ctx=options.n_ctx, threads=options.threads,
                                                 tools_note=options.tools_note, tools_place=options.tools_place,
                                                 tools_focus=TOOLS_FOCUS if options.tools_focus or
                                                 options.tools_note == "line" else "",
                                                 notes_ahead=options.notes_ahead, note_again=options.note_again,
                                                 seed=options.seed, jump_forward=options.jump_forward,
                                                 no_repeat=options.no_repeat))
        self._worker = Worker(f"{name}-llm")
        self._cpu: CpuPriority | None = None

    async def load(self, progress: ProgressFn, cpu: CpuPriority | None = None) -> None:
        self._cpu = cpu
        await self._worker.call(self.engine.load, progress)

    async def aclose(self) -> None:
        self._worker.shutdown()  # waits for a running generation or prefill to finish
        self.engine.close()

    def count_tokens(self, text: str) -> int:
        return self.engine.count(text) if self.engine.llm is not None else super().count_tokens(text)

    def _gated(self, tokens: Iterator[str]) -> Iterator[str]:
        # generation pauses between tokens while TTS speaks the first sentence, and is voice
        # work that background work (vision) waits for (omni.runtime.cpu)
        if self._cpu is None:
            yield from tokens
            return
        cpu = self._cpu
        with cpu.voice_work():
            # (not between the steps of reading the prompt, the empty pieces: as before)
            yield from cpu.gate(tokens, after=bool)

    def _messages(self, req: ChatRequest) -> list[dict[str, Any]]:
        return [_template_form(m) for m in self.wire_messages(req.messages)]

    def _note(self, req: ChatRequest) -> str | None:
        """The tools note a request needs, where the backend's `tools_note` writes no schemas:
        the template's, for tools only a call can use (ChatRequest.schemas)."""
        return "template" if req.schemas and self.options.tools_note in NO_SCHEMAS else None

    async def prefill(self, req: ChatRequest, idle: bool = False) -> None:
        messages = self._messages(req)

        def run() -> int:
            if self._cpu is None:
                return self.engine.prefill(messages, req.tools, req.prefix, req.catalog, ahead=req.ahead,
                                           note=self._note(req))
            cpu = self._cpu
            if idle:  # background work: the reply's speech goes first
                cpu.settle()
            with cpu.voice_work():  # and vision waits for it: the next turn needs it
                return self.engine.prefill(messages, req.tools, req.prefix, req.catalog, ahead=req.ahead,
                                           note=self._note(req))

        await self._worker.call(run)

    async def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        eng = self.engine
        messages = self._messages(req)
        stats: list[Any] = []

        def generate() -> Iterator[str]:
            yield from self._gated(eng.stream(messages, req.tools, req.prefix, req.max_tokens, req.temperature,
                                              words_only=req.tool_choice == "none", catalog=req.catalog, note=self._note(req),
                                              not_starting=req.not_starting, not_repeating=req.not_repeating))
            # read on the engine's thread, before another session's generation replaces it
            stats.append(copy.copy(eng.last))

        gen = self._worker.stream(generate)
        # (the empty pieces between prompt steps were chances to stop: not text)
        async with contextlib.aclosing(gen), contextlib.aclosing(_text(gen)) as pieces:
            if req.prefix:  # continuing a reply: it is prose by now
                started = False
                async for piece in pieces:
                    if not started:
                        started = True
                        yield Started()
                    yield TextDelta(piece)
            else:
                async for d in split_text_calls(pieces, id_prefix=f"{self.name}_call"):
                    yield d
        st = stats[0] if stats else eng.last
        yield Finished(Usage(prompt_tokens=st.prompt_tokens, completion_tokens=st.completion_tokens,
                             cached_tokens=st.cached_tokens, finish_reason=st.finish_reason,
                             forced_tokens=st.forced_tokens))


async def _text(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    async for piece in pieces:
        if piece:
            yield piece


def _template_form(m: dict[str, Any]) -> dict[str, Any]:
    """Chat templates render tool-call arguments with `tojson`: give them objects, not the
    JSON strings of the OpenAI wire format."""
    calls = m.get("tool_calls")
    if not calls:
        return m
    out = []
    for c in calls:
        fn = dict(c.get("function", {}))
        if isinstance(fn.get("arguments"), str):
            try:
                fn["arguments"] = json.loads(fn["arguments"])
            except json.JSONDecodeError:
                pass
        out.append({**c, "function": fn})
    return {**m, "tool_calls": out}
