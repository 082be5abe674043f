"""The local model's prompt on real parts (the bundled GGUF): what the context holds between turns,
what a turn evaluates anew, where the tools' notes go, and how a long prompt is read."""

from __future__ import annotations

from typing import Any

import pytest
from dialogue_run import EXAMPLES, LIGHT, STOP, VOLUME, Run, noop

from omni.frames import DeviceAction

pytestmark = pytest.mark.slow


async def test_after_a_fast_path_turn_the_local_model_reads_the_history_ahead():
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"examples": EXAMPLES}, tools={"max_rounds": 0}) as r:
        await r.ask("Turn on the kitchen light.")
        await r.stage.idle()  # the prefill runs while the user listens to the confirmation
        question = "What is the capital of France?"
        reply, _ = await r.ask(question, 2)
        st = r.stage.backends["local"].engine.last
        new = r.stage.backends["local"].count_tokens(question)
    assert "paris" in reply.lower()
    # only the new question (and its few template tokens) is evaluated, not the fast-path exchange;
    # what the template writes before a user's words was read ahead too (8 tokens of it without)
    assert st.prompt_tokens - st.cached_tokens <= new + 6, (st, new)


async def test_after_an_action_the_next_turn_finds_the_note_of_the_tool_it_offers_again_read():
    """tools_place: turn. The turn after an action offers that action again ("and the bedroom?"),
    whatever it asks: its note (~150 tokens, 2 s on 2 cores) is read ahead while the user hears
    the confirmation."""
    local = {"type": "llama.cpp", "tools_note": "template", "tools_place": "turn"}
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"examples": EXAMPLES}, backends={"local": local}) as r:
        await r.ask("Turn on the kitchen light.")
        await r.stage.idle()
        question = "What is the capital of France?"
        reply, _ = await r.ask(question, 2)
        (m,) = [x for x in r.metrics if x.get("backend") == "local"]
        st = r.stage.backends["local"].engine.last
        new = r.stage.backends["local"].count_tokens(question)
    assert "paris" in reply.lower()
    assert m["tools_offered"] == ["light"], m
    assert st.prompt_tokens - new > 100  # the note is in the prompt...
    # ...and was read ahead, and what the template writes before the user's words after it
    assert st.prompt_tokens - st.cached_tokens <= new + 6, (st, new)


async def light_off_after_a_greeting(r: Any) -> tuple[Any, str, str, list, Any]:
    """A greeting, its read-ahead, then a tool turn: the engine, the words, the reply, its
    frames and the tool turn's token counts."""
    eng = r.stage.backends["local"].engine
    await r.ask("Good morning.")
    await r.stage.idle()
    said = "Please switch the bedroom light off for me."
    reply, out = await r.ask(said, 2)
    return eng, said, reply, out, eng.last


async def test_with_the_tools_in_the_system_prompt_a_tool_turn_evaluates_only_its_words():
    """tools_place: system keeps the note of every tool cached after the system prompt: a
    turn that offers a tool does not evaluate the note anew, and a turn that offers none still may not call."""
    local = {"type": "llama.cpp", "tools_note": "template", "tools_place": "system"}
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"enabled": False}, tools={"builtin": []},
                   temperature=0, backends={"local": local}) as r:
        eng, said, reply, out, st = await light_off_after_a_greeting(r)
        new = eng.count(said)
        note = eng.count(eng.tools_note(r.stage.tools.schemas()))
        focus = eng.count(eng.settings.tools_focus.format(names="light"))
        # the line naming the offered tool goes just before the user's last words; not in a turn
        # that offers none, nor in what is read ahead of the next turn
        catalog, light = r.stage.tools.schemas(), r.stage.tools.schemas(frozenset({"light"}))
        msgs = [{"role": "system", "content": "You are omni."}, {"role": "user", "content": "Hello there."},
                {"role": "assistant", "content": "Hi, friend."}, {"role": "user", "content": "Lamp off."}]

        def text(*a: Any, **k: Any) -> str:
            return eng.llm.detokenize(eng.tokens(*a, **k)).decode()

        line = eng.settings.tools_focus.format(names="light")
        whole = text(msgs, light, catalog=catalog)
        assert whole.count(line) == 1 and whole.index("Hi, friend.") < whole.index(line) < whole.index("Lamp off."), whole
        assert line not in text(msgs, [], catalog=catalog)
        assert line not in text(msgs[:3], light, catalog=catalog, ahead=True, opener=True)
    acts = [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]
    assert acts == [("light", {"room": "bedroom", "state": "off"})], (acts, reply)
    # the note's ~360 tokens were cached with the system prompt: only the turn's words, the line
    # naming the offered tool (tools_focus) and the template's few tokens are new, where
    # tools_place: turn evaluates the note here too
    assert note > 200 and st.cached_tokens > note, (st, note)
    assert 0 < focus < 20 and st.prompt_tokens - st.cached_tokens <= new + focus + 14, (st, new, focus)


async def test_with_a_line_for_a_note_a_tool_turn_reads_one_line_and_its_words_act():
    """tools_note: line. A tool turn reads one line naming the offered tools with what they do,
    not their note (~150 tokens, 2-3 s here); the model answers in words, and a claim of the
    offered action in them is done."""
    local = {"type": "llama.cpp", "tools_note": "line"}
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"enabled": False}, tools={"builtin": []},
                   temperature=0, backends={"local": local}) as r:
        eng, said, reply, out, st = await light_off_after_a_greeting(r)
        light = r.stage.tools.schemas(frozenset({"light"}))
        msgs = [{"role": "system", "content": "You are omni."}, {"role": "user", "content": "Lamp off."}]
        whole = eng.llm.detokenize(eng.tokens(msgs, light)).decode()
        line = eng.settings.tools_focus.format(names="light (switch a light on or off)")
        n_line, n_said = eng.count(line), eng.count(said)
        offered = r.metrics[-1].get("tools_offered")
    assert offered == ["light"], offered
    assert whole.count(line) == 1 and whole.index(line) < whole.index("Lamp off.") and "<tools>" not in whole, whole
    assert st.prompt_tokens - st.cached_tokens <= n_said + n_line + 14, (st, n_said, n_line)
    acts = [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]
    assert acts == [("light", {"room": "bedroom", "state": "off"})], (acts, reply)


async def test_the_words_every_tools_note_starts_with_are_read_ahead_with_the_history():
    """notes_ahead (off by default). tools_place: turn puts a tool turn's note before its words, so it is
    evaluated on that turn; the chat template's words that start every note ("# Tools ... <tools>")
    are read ahead between turns, with the history, and a turn that offers no tool loses nothing."""
    local = {"type": "llama.cpp", "tools_note": "template", "tools_place": "turn", "notes_ahead": True}
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"enabled": False}, tools={"builtin": []},
                   temperature=0, backends={"local": local}) as r:
        eng = r.stage.backends["local"].engine
        head = eng.note_head(r.stage.tools.schemas())
        await r.ask("Good morning.")
        await r.stage.idle()
        question = "What is the capital of France?"
        answer, _ = await r.ask(question, 2)
        plain = eng.last
        await r.stage.idle()
        said = "Please switch the bedroom light off for me."
        reply, out = await r.ask(said, 3)
        tool_turn = eng.last
        note = eng.count(eng.tools_note(r.stage.tools.schemas(frozenset({"light"}))))
        # the turn after offers the light again ("and the kitchen?"): its whole note was read ahead
        await r.stage.idle()
        after = "And what is the capital of Spain?"
        answer2, _ = await r.ask(after, 4)
        following = eng.last
        offered = r.metrics[-1].get("tools_offered")
        n_head, n_said, n_question, n_after = eng.count(head), eng.count(said), eng.count(question), eng.count(after)
    assert head.startswith("# Tools") and head.rstrip().endswith("<tools>"), head
    acts = [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]
    assert acts == [("light", {"room": "bedroom", "state": "off"})], (acts, reply)
    # the light's note minus the head it shares with every note (and the turn's words) is new
    assert tool_turn.prompt_tokens - tool_turn.cached_tokens <= note - n_head + n_said + 14, (tool_turn, note, n_head)
    assert "paris" in answer.lower()
    assert plain.prompt_tokens - plain.cached_tokens <= n_question + 8, plain
    assert offered == ["light"] and "madrid" in answer2.lower(), (offered, answer2)
    assert following.prompt_tokens - following.cached_tokens <= n_after + 8, following


def test_a_long_prompt_is_read_in_steps_and_a_reply_stopped_between_them_reads_no_further():
    """A turn cancelled while its tools note is evaluated stops within a step (a few hundred ms on
    2 cores), not seconds later: the next turn would wait for it."""
    from omni.engines.llama_local import EVAL_STEP, LlamaChat, LlamaSettings

    eng = LlamaChat(LlamaSettings())
    eng.load(noop)
    tools = [{"type": "function", "function": {"name": s.name, "description": s.description,
                                               "parameters": {"type": "object", "properties": s.parameters}}}
             for s in (LIGHT, VOLUME, STOP)]
    messages = [{"role": "system", "content": "You are omni, a voice assistant."},
                {"role": "user", "content": "Switch the kitchen light on."}]
    try:
        toks = eng.tokens(messages, tools)
        assert len(toks) > 2 * EVAL_STEP
        it = eng.stream(messages, tools)
        assert next(it) == "", "a chance to stop after the first step, before any text"
        it.close()
        assert eng.llm.n_tokens == EVAL_STEP, "only the first step was evaluated"
        # read on from there, the reply names the call (the steps are not text and not counted)
        text = "".join(eng.stream(messages, tools))
        assert '"light"' in text and "kitchen" in text, text
        assert eng.last.cached_tokens == EVAL_STEP and eng.last.completion_tokens > 3
    finally:
        eng.close()


async def test_a_sample_drawn_again_does_not_start_as_the_one_dropped():
    """The real model, asked the same thing twice: the second draw, told the first reply's
    start, begins with another token (the dialogue draws again when every word was dropped)."""
    async with Run(actions=[LIGHT]) as r:
        eng = r.stage.backends["local"].engine
        msgs = r.stage.memory.messages("What is the capital of France?")
        first = "".join(eng.stream(msgs, max_tokens=12, temperature=0.0))
        # (words only, as a turn that offers no tool: the call tokens' ban and this one together)
        again = "".join(eng.stream(msgs, max_tokens=12, temperature=0.0, words_only=True, not_starting=[first]))
        starts = [eng.llm.tokenize(x.strip().encode(), add_bos=False)[:1] for x in (first, again)]
    assert first.strip() and again.strip(), (first, again)
    assert starts[0] != starts[1], (first, again)
    assert "paris" in first.lower() and "paris" in again.lower(), (first, again)


async def test_a_read_ahead_the_context_holds_keeps_the_words_of_a_turn_the_user_went_on_from():
    """A pause, a reply started on "What is the capital of", then more words: the read-ahead
    between (the history and the user's opener) is held already and drops nothing, so the
    whole sentence's turn evaluates only what follows the words it shares with the fragment."""
    async with Run(actions=[LIGHT]) as r:
        eng = r.stage.backends["local"].engine
        fragment, whole = "What is the capital of", "What is the capital of France?"
        "".join(eng.stream(r.stage.memory.messages(fragment), max_tokens=4, temperature=0.0))
        held = eng.llm.n_tokens
        assert eng.prefill(r.stage.memory.prefix(), ahead=True) == 0
        assert eng.llm.n_tokens == held, "the fragment's prompt was dropped"
        reply = "".join(eng.stream(r.stage.memory.messages(whole), max_tokens=12, temperature=0.0))
        st, new = eng.last, r.stage.backends["local"].count_tokens(" France?")
    assert "paris" in reply.lower(), reply
    # " France?" and the template's end of the user's message and the assistant's opener
    assert st.prompt_tokens - st.cached_tokens <= new + 6, st


async def test_a_turn_the_user_went_on_from_leaves_its_prompt_for_the_whole_sentence():
    """The dialogue stage: a reply started on "Who invented the light" (which offers the light,
    so a line naming it goes before the words) is interrupted before a word: the user went on.
    No read-ahead of the history replaces its prompt, so the whole sentence's turn (its words
    carried) evaluates only what the fragment did not have, not the tools' line again."""
    import asyncio
    import time

    from omni.frames import ReplyDone, Transcript, Turn
    from omni.runtime.floor import BargeIn

    async with Run(actions=[LIGHT]) as r:
        st = r.stage
        first = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)

        eng = st.backends["local"].engine
        start = eng.llm.n_tokens

        async def go_on() -> None:  # the user talks again once the model has read the fragment
            while eng.llm.n_tokens <= start:  # (before its first clause is out: several tokens)
                await asyncio.sleep(0.002)
            assert st.floor.user_started(BargeIn(onset=0, sample_rate=16000, t=0.0))
            st.floor.user_took_turn()

        task = asyncio.create_task(go_on())
        out = [f async for f in st.process(Transcript(turn=first, text="Who invented the light"))]
        await task
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert done.reason == "interrupted" and not done.text, done
        st.floor.speech(first).played(heard="", done=True)  # the player: nothing of it was heard
        await st.idle()
        second = Turn(id=2, speech_start=20000, speech_end=40000, t_speech_end=time.monotonic(), sample_rate=16000)
        out = [f async for f in st.process(Transcript(turn=second, text="bulb?"))]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        stats, new = eng.last, st.backends["local"].count_tokens(" bulb?")
    assert r.metrics[-1]["tools_offered"] == ["light"], r.metrics[-1]
    assert "edison" in done.text.lower(), done.text
    assert stats.prompt_tokens - stats.cached_tokens <= new + 6, stats
