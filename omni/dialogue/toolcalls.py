"""Tool calls written as text: what local chat models (Qwen, Hermes-style templates) emit.

A model prompted with tools answers either with words or with one or more JSON objects
`{"name": ..., "arguments": {...}}`, usually inside `<tool_call>...</tool_call>` tags (the tags
are special tokens, so detokenised output often holds the bare JSON). OpenAI-compatible servers
without a tool parser (llama-cpp-python's server with the GGUF's own template, vLLM without
`--tool-call-parser`) pass that text through as content, so both backends use this.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable

from omni.dialogue.types import Delta, Started, TextDelta, ToolCall, ToolCallDelta
from omni.engines.jump_forward import CLOSE, OPEN, starts_call
_FENCE = re.compile(r"```[A-Za-z]*\s*")


def looks_like_call(head: str) -> bool | None:
    """Given the start of a reply (whitespace stripped): True when it is a tool call, False when
    it is prose, None when too little has arrived to tell."""
    if not head:
        return None
    if head.startswith("`"):  # a call in a markdown fence: ```json\n{"name": ...}
        m = _FENCE.match(head)
        if m is None:
            return None if head == "`" * len(head) and len(head) < 3 else False
        return looks_like_call(head[m.end():]) if head[m.end():] else None
    # `{`, `<tool_call>`, or `<tools>` (the tool list written back: markup, never speech)
    return starts_call(head)


def parse_calls(text: str, id_prefix: str = "call") -> list[ToolCall]:
    """Every `{"name", "arguments"}` object in `text`, in order; other text is ignored."""
    body = text.replace(OPEN, "\n").replace(CLOSE, "\n")
    dec = json.JSONDecoder()
    calls: list[ToolCall] = []
    i = 0
    while True:
        i = body.find("{", i)
        if i < 0:
            break
        try:
            obj, end = dec.raw_decode(body, i)
        except json.JSONDecodeError:
            obj, end = _repaired(body[i:].rstrip(), dec)
            if obj is None:
                i += 1
                continue
            end += i
        i = end
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            calls.append(make_call(f"{id_prefix}_{len(calls)}", obj["name"],
                                   obj.get("arguments", obj.get("parameters", {}))))
    return calls


def make_call(call_id: str, name: str, arguments: object) -> ToolCall:
    """A ToolCall from arguments as the model gave them: an object, or JSON text (kept as
    raw_arguments, with empty arguments, when it does not parse to an object)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            arguments = None
    return ToolCall(id=call_id, name=name, arguments=arguments if isinstance(arguments, dict) else {},
                    raw_arguments=raw)


def _repaired(text: str, dec: json.JSONDecoder) -> tuple[object, int]:
    """A call cut short of its closing braces (compact models stop one brace early): closed."""
    if not text.startswith('{"name"'):
        return None, 0
    for n in range(1, 4):
        try:
            obj, _ = dec.raw_decode(text + "}" * n)
            return obj, len(text)
        except json.JSONDecodeError:
            continue
    return None, 0


async def split_text_calls(pieces: AsyncIterator[str], id_prefix: str = "call") -> AsyncIterator[Delta]:
    """Turn streamed reply text into TextDelta pieces, or one ToolCallDelta when the reply is a
    tool call. Prose streams through as it comes; only the first few characters are held back."""
    head = ""
    mode: bool | None = None
    buf: list[str] = []
    started = False
    async for piece in pieces:
        if not started:
            started = True
            yield Started()
        if mode is None:
            head += piece
            mode = looks_like_call(head.lstrip())
            if mode is False:
                yield TextDelta(head)
            elif mode:
                buf.append(head)
            continue
        if mode:
            buf.append(piece)
        else:
            yield TextDelta(piece)
    if mode is None and head.strip():
        yield TextDelta(head)
    if mode:
        text = "".join(buf)
        calls = parse_calls(text, id_prefix)
        # JSON that holds no call is never read aloud; the caller reports it
        yield ToolCallDelta(tuple(calls), malformed="" if calls else text.strip())


def join_text(deltas: Iterable[Delta]) -> str:
    return "".join(d.text for d in deltas if isinstance(d, TextDelta))
