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


TIMER = {"type": "function", "function": {"name": "set_timer", "parameters": {
    "type": "object", "required": ["seconds"],
    "properties": {"seconds": {"type": "integer"}, "label": {"type": "string"}}}}}


@pytest.mark.parametrize("body, tools, want", [
    # the name of the one tool offered, the keys of its one argument: all fixed
    ("{{", [VOLUME], '"name": "volume", "arguments": {"direction": "'),
    ("<tool_call>", [VOLUME], '\n{"name": "volume", "arguments": {"direction": "'),
    ('{"', [STOP], 'name": "stop", "arguments": {}}'),
    ("{{", [STOP], '"name": "stop", "arguments": {}}}'),
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
    ("{{", [TIMER], '"name": "set_timer", "arguments": {"'),
    ('{{"name": "set_timer", "arguments": {"sec', [TIMER], 'onds": '),
    ('{{"name": "set_timer", "arguments": {"seconds": 60', [TIMER], ""),
    ('{{"name": "set_timer", "arguments": {"seconds": 600}}', [TIMER], "}"),
    # the closing tag of a tagged call; nothing after a whole call
    ('<tool_call>\n{"name": "stop", "arguments": {}}', [STOP], "\n</tool_call>"),
    ('<tool_call>\n{"name": "stop", "arguments": {}}\n</tool_call>', [STOP], ""),
    # the tags the template puts the schemas in, which the model writes a call in too
    ("<tools", [VOLUME], '>\n{"name": "volume", "arguments": {"direction": "'),
    ('<tools>\n{"name": "volume", "arguments": {"direction": "down"}}', [VOLUME], "\n</tools>"),
    ("<", [VOLUME], ""),
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
            assert got[False][3] == 0
            decided = got[True][2] - got[True][3]
            assert got[True][3] >= 10 and decided <= 5, got
    finally:
        eng.close()


@pytest.mark.slow
async def test_the_local_backend_gives_the_call_and_counts_what_was_forced():
    """Through the backend the dialogue uses: the call arrives whole, and the turn's usage says how
    many of its tokens were evaluated in a batch (the metrics' `forced_tokens`)."""
    from omni.dialogue.backends.local import LlamaBackend, LlamaBackendOptions
    from omni.dialogue.types import ChatRequest, Finished, ToolCallDelta

    backend = LlamaBackend("local", LlamaBackendOptions())
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
