"""Jump-forward decoding of tool calls: what the offered tools' schemas fix is evaluated in a batch,
and only the model's choices are sampled (omni.engines.jump_forward). The reader on its own,
then the bundled model writing calls with it and without it."""

from __future__ import annotations

from typing import Any

import pytest
from dialogue_run import LIGHT, STOP, VOLUME, noop

from omni.engines.jump_forward import fixed_next, starts_call


def fn(spec: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                             "parameters": spec.schema()}}


MUSIC = {"type": "function", "function": {"name": "music", "parameters": {
    "type": "object", "required": ["ghost"],
    "properties": {"room": {"type": "string", "enum": ["kitchen", "bedroom"]},
                   "source": {"type": "string", "enum": ['55" screen', "radio"]}}}}}
TIMER = {"type": "function", "function": {"name": "set_timer", "parameters": {
    "type": "object", "required": ["seconds"],
    "properties": {"seconds": {"type": "integer"}, "label": {"type": "string"}}}}}


@pytest.mark.parametrize("body, tools, want", [
    # the name is the model's to start, even with one tool offered (it may be about to call
    # another, which is refused); its rest, the keys of its one argument: fixed
    ("{{", [VOLUME], '"name": "'),
    ("<tool_call>", [VOLUME], '\n{"name": "'),
    ('{{"name": "vol', [VOLUME], 'ume", "arguments": {"direction": "'),
    ('{{"name": "vol', [LIGHT], ""),
    ('{"name": "st', [STOP], 'op", "arguments": {}}'),
    ('{{"name": "st', [STOP], 'op", "arguments": {}}}'),
    # an enum value, once its start names it, and what follows it
    ('{{"name": "volume", "arguments": {"direction": "up', [VOLUME], '"}}}'),
    ('{"name": "light", "arguments": {"room": "liv', [LIGHT], 'ing room", "state": "'),
    ('{"name": "light", "arguments": {"state": "on', [LIGHT], '", "room": "'),
    ('{"name": "light", "arguments": {"room', [LIGHT], '": "'),
    # two names fit, two keys fit, two values fit: the model chooses
    ("{{", [VOLUME, LIGHT], '"name": "'),
    ('{{"name": "l', [VOLUME, LIGHT], 'ight", "arguments": {"'),
    ('{"name": "light", "arguments": {"', [LIGHT], ""),
    ('{"name": "light", "arguments": {"room": "kitchen", "state": "o', [LIGHT], ""),
    # a number may go on; an optional key may come first, follow the number or not
    ('{{"name": "set', [TIMER], '_timer", "arguments": {"'),
    ('{{"name": "set_timer", "arguments": {"sec', [TIMER], 'onds": '),
    ('{{"name": "set_timer", "arguments": {"seconds": 60', [TIMER], ""),
    ('{{"name": "set_timer", "arguments": {"seconds": 600}}', [TIMER], "}"),
    # the closing tag of a tagged call; nothing after a whole call
    ('<tool_call>\n{"name": "stop", "arguments": {}}', [STOP], "\n</tool_call>"),
    ('<tool_call>\n{"name": "stop", "arguments": {}}\n</tool_call>', [STOP], ""),
    # a bare `{` or the tags the template puts the schemas in may open the tool list written back
    # ({"type": "function", ...}): nothing is forced until the model has written "name" itself
    ('{"', [STOP], ""),
    ('{"type', [VOLUME], ""),
    ("<tools", [VOLUME], ""),
    ('<tools>\n{"', [VOLUME], ""),
    ('<tools>\n{"type": "function"', [VOLUME], ""),
    ('<tools>\n{"name', [VOLUME], '": "'),
    ('<tools>\n{"name": "volume", "arguments": {"direction": "down"}}', [VOLUME], "\n</tools>"),
    ("<", [VOLUME], ""),
    # optional arguments only (a `required` naming no property counts for nothing): maybe none;
    # a value JSON would have to escape is written freely
    ('{{"name": "m', [MUSIC], 'usic", "arguments":'),
    ('{{"name": "music", "arguments": {}', [MUSIC], "}}"),
    ('{{"name": "music", "arguments": {"room": "kit', [MUSIC], 'chen'),
    ('{{"name": "music", "arguments": {"room": "kitchen', [MUSIC], ""),
    ('{{"name": "music", "arguments": {"source": "', [MUSIC], ""),
    # a free string is the model's to its closing quote (escaped ones are not it)
    ('{{"name": "set_timer", "arguments": {"seconds": 60, "label": "a \\"b', [TIMER], ""),
    ('{{"name": "set_timer", "arguments": {"seconds": 60, "label": "a \\"b\\""', [TIMER], "}}}"),
    # a line break after a comma
    ('{{"name": "set_timer", "arguments": {"seconds": 60,\n', [TIMER], ""),
    ('{{"name": "set_timer", "arguments": {"seconds": 60,\n\t"lab', [TIMER], 'el": "'),
    ('{"name": "light", "arguments": {"room": "bedroom", "state": "off"}}', [LIGHT], ""),
    # what no schema allows is written freely, and judged as it would have been
    ('{{"name": "dishwasher', [VOLUME], ""),
    ('{"name": "light", "arguments": {"room": "garage', [LIGHT], ""),
    ('{"name": "light", "arguments": {"colour": "', [LIGHT], ""),
])
def test_what_the_schemas_fix_is_forced_and_only_that(body, tools, want):
    assert fixed_next(body, [fn(t) if not isinstance(t, dict) else t for t in tools]) == want


def test_only_a_reply_that_opens_as_a_call_is_followed():
    assert starts_call("{{") and starts_call(' {"') and starts_call("<tool_call>") and starts_call("<tools>")
    assert starts_call("Sure") is False and starts_call("I can't") is False and starts_call("<b>") is False
    assert starts_call("<") is None and starts_call("<tool") is None and starts_call(" ") is None
    # the dialogue's reader of a reply's start is the same, and also reads a call in a fence
    from omni.dialogue.toolcalls import looks_like_call
    assert looks_like_call("```json\n{") and looks_like_call("<tools>") and looks_like_call("{{")
    assert looks_like_call("<tool") is None and looks_like_call("Sure") is False


@pytest.mark.slow
def test_the_model_writes_the_same_calls_deciding_fewer_tokens():
    """The bundled model, "Turn it up." and a light switched with one tool offered: the same call
    with jump-forward as without, but most of its tokens evaluated in a batch (on 2 cores the
    call's ~20 tokens were decoded at ~70 ms each)."""
    from omni.engines.llama_local import LlamaChat, LlamaSettings
    from omni.dialogue.toolcalls import parse_calls

    eng = LlamaChat(LlamaSettings())
    eng.load(noop)
    system = {"role": "system", "content": "You are omni, a voice assistant. Answer in one short sentence."}
    try:
        for words, spec, args in [("Turn it up.", VOLUME, {"direction": "up"}),
                                  ("Lights off in the kitchen, please.", LIGHT, {"room": "kitchen", "state": "off"})]:
            msgs = [system, {"role": "user", "content": words}]
            got = {}
            for jump in (False, True):
                eng.settings.jump_forward = jump
                eng.llm.n_tokens = 0  # the same prompt evaluated the same way each time
                text = "".join(eng.stream(msgs, [fn(spec)]))
                (call,) = parse_calls(text)
                got[jump] = (call.name, call.arguments, eng.last.completion_tokens, eng.last.forced_tokens)
            assert got[False][:2] == got[True][:2] == (spec.name, args), got
            decided = got[True][2] - got[True][3]
            # the call's start, the name's and each value's first token, and where a key is the
            # model's to choose: a third of what was decoded before, or less
            assert got[True][3] >= 10 and decided <= got[False][2] // 3, got
    finally:
        eng.close()


@pytest.mark.slow
async def test_the_local_backend_gives_the_call_and_counts_what_was_forced():
    """Through the backend the dialogue uses: the call arrives whole, and the turn's usage says how
    many of its tokens were evaluated in a batch (the metrics' `forced_tokens`)."""
    from omni.dialogue.backends.local import LlamaBackend, LlamaBackendOptions
    from omni.dialogue.types import ChatRequest, Finished, ToolCallDelta

    # (the JSON note the model writes calls from: the default line leaves it answering in words)
    backend = LlamaBackend("local", LlamaBackendOptions(tools_note="template"))
    await backend.load(noop)
    try:
        req = ChatRequest(messages=[{"role": "system", "content": "You are omni, a voice assistant."},
                                    {"role": "user", "content": "Switch the bedroom light off."}],
                          tools=[fn(LIGHT)])
        out = [d async for d in backend.stream(req)]
    finally:
        await backend.aclose()
    (calls,) = [d.calls for d in out if isinstance(d, ToolCallDelta)]
    assert [(c.name, c.arguments) for c in calls] == [("light", {"room": "bedroom", "state": "off"})]
    (done,) = [d for d in out if isinstance(d, Finished)]
    assert done.usage.forced_tokens >= 10 and done.usage.completion_tokens - done.usage.forced_tokens <= 6, done
