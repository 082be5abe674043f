"""The one streaming interface every chat backend implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.prompts import TOOL_RESULTS_NOTE
from omni.dialogue.types import ChatRequest, Delta
from omni.runtime.cpu import CpuPriority
from omni.runtime.stage import ProgressFn


class Price(BaseModel):
    """Prices in a currency of your choice per million tokens; the metrics report the cost."""

    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    currency: str = "USD"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


class BackendOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_token_ms: float | None = Field(None, gt=0)
    """Fail over to the next backend when no reply starts within this time (None: wait)."""
    price: Price | None = None
    tool_results: Literal["messages", "note"] = "messages"
    """How tool results reach the model: `messages`, the OpenAI protocol (an assistant message
    with tool_calls, then `tool` messages); `note`, one system note with the results, which
    compact models follow (the 0.5B Qwen calls the tool again when given `messages`)."""


def results_as_note(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rewrite OpenAI-protocol tool turns (assistant tool_calls + tool messages) as system notes."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    results: list[str] = []

    def flush() -> None:
        if results:
            out.append({"role": "system", "content": TOOL_RESULTS_NOTE.format(results="; ".join(results))})
            results.clear()

    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            for c in m["tool_calls"]:
                fn = c.get("function", {})
                names[c.get("id", "")] = f"{fn.get('name')}({fn.get('arguments') or '{}'})"
            continue
        if m.get("role") == "tool":
            results.append(f"{names.get(m.get('tool_call_id', ''), m.get('name', 'tool'))} returned {m.get('content')}")
            continue
        flush()
        out.append(m)
    flush()
    return out


class ChatBackend(abc.ABC):
    """Streams one reply: TextDelta pieces, or a ToolCallDelta, then Finished.

    Faults are raised as omni.errors.ServiceError; the router turns them into failover.
    Closing the iterator early (cancellation) stops the generation.
    """

    continues: bool = False
    """True when the backend can go on from ChatRequest.prefix (a reply begun elsewhere)."""
    offline: bool = True
    """True when answering needs no network beyond this machine."""

    def __init__(self, name: str, options: BackendOptions) -> None:
        self.name = name
        self.options = options

    async def load(self, progress: ProgressFn, cpu: CpuPriority | None = None) -> None:  # noqa: B027
        """Load the model or prepare the client; `cpu` is the run's CPU priority, for a backend
        that computes on this machine (omni.runtime.cpu)."""

    async def prefill(self, req: ChatRequest, idle: bool = False) -> None:  # noqa: B027 - optional hook
        """Optionally evaluate `req`'s prompt ahead of `stream(req)`, so that a stream with the
        same prompt starts at once: at load (the system prompt), while another backend is tried
        (RoutingOptions.prefill_fallback), between turns (`idle`: once the CPU is quiet)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what load() took."""

    @property
    def available(self) -> str | None:
        """None when usable, else why not (shown in routing reasons)."""
        return None

    @abc.abstractmethod
    def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        """Generate the reply to `req`."""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` for this backend's model (an estimate where it cannot know)."""
        return max(1, len(text) // 4)

    def wire_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages as this backend's model should see them (see `tool_results`)."""
        return results_as_note(messages) if self.options.tool_results == "note" else messages

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        p = self.options.price
        return None if p is None else p.cost(prompt_tokens, completion_tokens)
