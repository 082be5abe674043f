"""Any OpenAI-compatible chat completions endpoint: OpenAI, vLLM, llama.cpp's server, Ollama...

Uses the official `openai` client, streaming. Tool calls arrive either as native `tool_calls`
deltas or, from servers without a tool parser, as text (see omni.dialogue.toolcalls): both are
handled. The API key is read from the environment variable the configuration names and never
appears in logs or error messages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field

from omni.dialogue.backends.base import BackendOptions, ChatBackend
from omni.dialogue.prompts import CONTINUE_NOTE
from omni.dialogue.toolcalls import make_call, split_text_calls
from omni.dialogue.types import ChatRequest, Delta, Finished, ToolCallDelta, Usage
from omni.errors import ConfigError, ServiceError
from omni.net import is_loopback
from omni.runtime.cpu import CpuPriority
from omni.runtime.stage import ProgressFn
from omni.strings import safe_text

log = logging.getLogger(__name__)


class OpenAIBackendOptions(BackendOptions):
    type: Literal["openai"] = "openai"
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4.1-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; None for servers that need none."""
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)
    """Longest silence on the connection before the request fails."""
    include_usage: bool = True
    """Ask for token usage in the last stream chunk (stream_options.include_usage)."""
    offline: bool | None = None
    """Counts as offline (allowed when routing.offline_only): default True for loopback hosts."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields the endpoint understands (e.g. {"top_k": 20})."""


def _is_loopback(url: str) -> bool:
    return is_loopback(urlparse(url).hostname or "")


class OpenAIBackend(ChatBackend):
    continues = False
    options: OpenAIBackendOptions

    def __init__(self, name: str, options: OpenAIBackendOptions) -> None:
        super().__init__(name, options)
        self.offline = options.offline if options.offline is not None else _is_loopback(options.base_url)
        self._client: Any = None
        self._key: str | None = None
        self._unavailable: str | None = None

    async def load(self, progress: ProgressFn, cpu: CpuPriority | None = None) -> None:
        import openai

        o = self.options
        if urlparse(o.base_url).scheme not in ("http", "https"):
            raise ConfigError(f"backend {self.name}: base_url {o.base_url!r} is not an http(s) URL")
        key = "none"
        if o.api_key_env:
            key = os.environ.get(o.api_key_env, "")
            if not key:
                self._unavailable = f"environment variable {o.api_key_env} is not set"
                log.warning("backend %s disabled: %s", self.name, self._unavailable)
                key = "unset"
        self._key = key if key not in ("none", "unset") else None
        progress(f"client for {o.model} at {o.base_url}", None)
        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=o.base_url, max_retries=0,
            timeout=openai.Timeout(o.read_timeout_s, connect=o.connect_timeout_s))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    @property
    def available(self) -> str | None:
        return self._unavailable

    def _clean(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _error(self, e: Exception) -> ServiceError:
        import openai

        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            return ServiceError(self._clean(f"backend {self.name}: HTTP {status}: {e.message}"),
                                retryable=status >= 500 or status == 429)
        if isinstance(e, openai.APITimeoutError):
            return ServiceError(f"backend {self.name}: no response within {self.options.read_timeout_s:g} s",
                                retryable=True)
        if isinstance(e, openai.APIConnectionError):
            return ServiceError(self._clean(f"backend {self.name}: cannot reach {self.options.base_url}: "
                                            f"{e.__cause__ or e}"), retryable=True)
        return ServiceError(self._clean(f"backend {self.name}: {type(e).__name__}: {e}"), retryable=False)

    async def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        import openai

        o = self.options
        if self._client is None:
            raise ServiceError(f"backend {self.name} is not loaded")
        messages = self.wire_messages(req.messages)
        if req.prefix:  # another backend was cut off mid-reply: the API cannot prefill, so ask
            messages = [*messages, {"role": "system", "content": CONTINUE_NOTE.format(prefix=req.prefix.strip())}]
        kw: dict[str, Any] = dict(model=o.model, messages=messages, stream=True,
                                  max_tokens=req.max_tokens, temperature=req.temperature)
        if req.tools:
            kw["tools"] = req.tools
            if req.tool_choice != "auto":
                kw["tool_choice"] = req.tool_choice
        if o.include_usage:
            kw["stream_options"] = {"include_usage": True}
        if o.extra_body:
            kw["extra_body"] = o.extra_body
        usage = Usage()
        chunks = [0]  # content chunks: about one token each on llama.cpp and vLLM servers
        native: dict[int, dict[str, str]] = {}

        async def text() -> AsyncIterator[str]:
            try:
                stream = await self._client.chat.completions.create(**kw)
                try:
                    async for chunk in stream:
                        if chunk.usage is not None and chunk.usage.completion_tokens:
                            usage.prompt_tokens = chunk.usage.prompt_tokens or 0
                            usage.completion_tokens = chunk.usage.completion_tokens or 0
                        for choice in chunk.choices:
                            if choice.finish_reason:
                                usage.finish_reason = choice.finish_reason
                            d = choice.delta
                            if d.tool_calls and not native:
                                yield ""  # a native tool call has begun: counts as the first token
                            for tc in d.tool_calls or []:
                                slot = native.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                                slot["id"] = tc.id or slot["id"]
                                if tc.function is not None:
                                    name = tc.function.name or ""
                                    if name != slot["name"]:  # llama-cpp-python resends it with every chunk
                                        slot["name"] += name
                                    slot["args"] += tc.function.arguments or ""
                            if d.content:
                                chunks[0] += 1
                                yield safe_text(d.content)  # a server's JSON can hold "\ud800"
                finally:
                    await stream.close()
            except openai.OpenAIError as e:
                raise self._error(e) from e

        # closed at once when the consumer stops early (a missed budget, barge-in): the HTTP
        # stream ends now, not when the garbage collector finds the generators
        pieces = text()
        async with contextlib.aclosing(pieces), contextlib.aclosing(
                split_text_calls(pieces, id_prefix=f"{self.name}_call")) as deltas:
            async for delta in deltas:
                yield delta
        if native:
            yield ToolCallDelta(tuple(make_call(slot["id"] or f"{self.name}_call_{i}", slot["name"], slot["args"])
                                      for i, slot in sorted(native.items())))
        if not usage.completion_tokens:  # the server ignored stream_options.include_usage
            usage.estimated = True
            usage.completion_tokens = chunks[0] + sum(len(s["args"]) // 4 for s in native.values())
            usage.prompt_tokens = self.count_tokens(json.dumps(messages) + (json.dumps(req.tools) if req.tools else ""))
        yield Finished(usage)


__all__ = ["OpenAIBackend", "OpenAIBackendOptions"]
