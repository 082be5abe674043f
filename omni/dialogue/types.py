"""What flows between the dialogue core's parts: chat requests, streamed deltas, usage.

Messages use the OpenAI chat format (plain dicts), since that is what both backends speak and
what chat templates render; everything else is a small frozen dataclass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
"""An OpenAI-format chat message: role, content, and for tool turns tool_calls / tool_call_id."""


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for."""

    id: str
    """Call id, echoed in the tool result message."""
    name: str
    """Tool name as the model spelled it (checked against the registry before anything runs)."""
    arguments: dict[str, Any]
    """Parsed arguments; not yet validated."""
    raw_arguments: str = ""
    """The arguments text as received, kept when it was not valid JSON."""

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments)}}


@dataclass(frozen=True)
class ChatRequest:
    """One generation: the whole prompt plus the tools the model may call."""

    messages: list[Message]
    tools: list[dict[str, Any]] = field(default_factory=list)
    """OpenAI tool schemas ({"type": "function", "function": {...}})."""
    max_tokens: int = 80
    temperature: float = 0.2
    tool_choice: str = "auto"
    """"auto": the model may call the tools; "none": it must answer in words, with the tools
    still in the prompt (so a cached prompt prefix stays valid)."""
    catalog: list[dict[str, Any]] = field(default_factory=list)
    """Every tool the conversation may offer in any turn. A backend may keep all of them in its
    cached prompt prefix (a local model's `tools_place: system`) and still let only `tools` be
    called; the others ignore it."""
    not_starting: tuple[str, ...] = ()
    """Replies drawn for this turn before and not used (every word dropped): a backend that can
    (the local model) does not begin this one as any of them began."""
    not_repeating: tuple[str, ...] = ()
    """The conversation's earlier replies: a backend that can (the local model, its
    `no_repeat`) does not say a run of them again. Given to the draw after a reply to "Tell me
    another." said an earlier one again (the joke told before)."""
    prefix: str = ""
    """Reply text already spoken by a backend that failed mid-stream; a backend that can
    continue a reply (see ChatBackend.continues) goes on from it instead of starting over."""
    ahead: bool = False
    """For a prefill: `messages` are the start of the next turn's prompt (system prompt and
    history), not a whole prompt; `tools` are those it will offer again."""
    schemas: bool = False
    """The tools' schemas must be in the prompt: only a call can use them (a client's own tools
    over the REST API). False: the dialogue also acts on what the model's words claim, and a
    local model may name the tools in a line instead (`tools_note: line`)."""


@dataclass(frozen=True)
class Started:
    """The backend produced its first output (text or the start of a tool call); the router
    measures time to first token with it, even when the output is held back as a tool call."""


@dataclass(frozen=True)
class TextDelta:
    """New reply text."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """The model asked for tool calls (complete, not partial)."""

    calls: tuple[ToolCall, ...]
    malformed: str = ""
    """Reply text that looked like a tool call but held none that parsed (reported, not spoken)."""


@dataclass
class Usage:
    """What one generation used."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    finish_reason: str = ""
    forced_tokens: int = 0
    """Of the completion tokens, those evaluated in a batch, not decoded one at a time (the
    fixed parts of a tool call: omni.engines.jump_forward)."""
    estimated: bool = False
    """The endpoint reported no usage; the counts are estimates (content chunks, characters / 4)."""


@dataclass(frozen=True)
class Finished:
    """The last delta of a generation."""

    usage: Usage


Delta = Started | TextDelta | ToolCallDelta | Finished
