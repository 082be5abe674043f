"""The dialogue core on real parts: llama-cpp-python's own OpenAI-compatible server on a loopback
port as the remote backend (started here, killed here), the bundled GGUF as the local backend,
the bundled sentence embeddings for the fast path. No mocked HTTP."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from servers import llama_server, remote, silent_server, stalling_server

from omni.dialogue.backends import OpenAIBackend, OpenAIBackendOptions
from omni.dialogue.intents import IntentExample, IntentMatcher, IntentOptions
from omni.dialogue.tools import ActionSpec
from omni.dialogue.types import ChatRequest, Finished, ToolCallDelta
from omni.frames import DeviceAction, ErrorEvent, Frame, ReplyDone, ReplyToken, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions

pytestmark = pytest.mark.slow

LIGHT = ActionSpec(name="light", description="Switch a light on or off.", say="{room} light {state}.",
                   parameters={"room": {"enum": ["kitchen", "bedroom", "living room"]},
                               "state": {"enum": ["on", "off"]}})
VOLUME = ActionSpec(name="volume", description="Turn the volume up or down.", say="Volume {direction}.",
                    parameters={"direction": {"enum": ["up", "down"]}})
STOP = ActionSpec(name="stop", description="Stop talking.", say="Okay.")
EXAMPLES = [
    IntentExample(text="turn on the kitchen light", action="light"),
    IntentExample(text="switch the bedroom light off", action="light"),
    IntentExample(text="lights off in the living room", action="light"),
    IntentExample(text="turn the volume up", action="volume", args={"direction": "up"}),
    IntentExample(text="louder please", action="volume", args={"direction": "up"}),
    IntentExample(text="turn the volume down", action="volume", args={"direction": "down"}),
    IntentExample(text="quieter please", action="volume", args={"direction": "down"}),
    IntentExample(text="stop", action="stop"),
    IntentExample(text="be quiet", action="stop"),
    IntentExample(text="what time is it", action="get_time"),
    IntentExample(text="set a timer for five minutes", action="set_timer"),
]


def noop(*a: Any) -> None:
    pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with llama_server() as (url, _):
        yield url


def turn(i: int = 1) -> Turn:
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


class Run:
    """A Dialogue stage driven turn by turn, with its metrics."""

    def _report(self, name: str, turn: Any, ms: float | None, extra: dict[str, Any]) -> None:
        if ms is None:  # more fields for the turn's record (as the TurnRecorder merges them)
            self.metrics[-1].update(extra)
        else:
            self.metrics.append({"ms": ms, **extra})

    def __init__(self, **options: Any) -> None:
        self.stage = Dialogue("llm", DialogueOptions(**options))
        self.metrics: list[dict[str, Any]] = []
        self.stage.context.reporter = self._report

    async def __aenter__(self) -> Run:
        await self.stage.load(noop)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stage.aclose()

    def frames(self, text: str, i: int = 1) -> AsyncIterator[Frame]:
        return self.stage.process(Transcript(turn=turn(i), text=text))

    async def ask(self, text: str, i: int = 1) -> tuple[str, list[Frame]]:
        out = [f async for f in self.frames(text, i)]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        return done.text, out


# remote backend against the real server -------------------------------------------------------

async def test_remote_backend_streams_a_reply_with_usage(server):
    async with Run(backends={"remote": remote(server, price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})},
                   routing={"order": ["remote"]}, tools={"max_rounds": 0}) as r:
        reply, out = await r.ask("What is the capital of France?")
        assert "paris" in reply.lower()
        # the reply streams clause by clause (the guard judges each clause whole before it is spoken)
        pieces = [f.text for f in out if isinstance(f, ReplyToken)]
        assert pieces and "".join(pieces).strip() == reply, pieces
        assert all(p.rstrip()[-1:] in ".,;:!?" for p in pieces[:-1]), pieces
        (m,) = r.metrics
        assert m["backend"] == "remote" and m["reason"] == "default order"
        # llama-cpp-python's server sends no usage when streaming: counted here, and said so
        assert m["prompt_tokens"] > 10 and m["completion_tokens"] > 2 and m["tokens_estimated"] is True
        assert m["cost"] == pytest.approx((m["prompt_tokens"] * 1.0 + m["completion_tokens"] * 2.0) / 1e6, abs=1e-6)
        # the second turn carries the first in its history
        reply2, _ = await r.ask("And of Italy?", 2)
        assert "rome" in reply2.lower()


async def test_complex_turns_go_remote_and_simple_ones_stay_local(server):
    async with Run(backends={"remote": remote(server), "local": {"type": "llama.cpp"}},
                   routing={"order": ["local", "remote"], "complex_order": ["remote", "local"]},
                   tools={"max_rounds": 0}, max_tokens=40) as r:
        await r.ask("What is the capital of France?")
        await r.ask("What is a volcano? And why do volcanoes erupt?", 2)
    simple, hard = r.metrics
    assert (simple["backend"], simple["reason"]) == ("local", "default order")
    assert (hard["backend"], hard["reason"]) == ("remote", "complex (several questions)")


async def test_a_tool_call_round_trip_through_the_server(server):
    """The model calls get_time (as text through the server), the registry runs it, the result
    goes back to the model, and the model answers from it."""
    async with Run(backends={"remote": remote(server, tool_results="note")}, routing={"order": ["remote"]},
                   tools={"builtin": ["time"], "speak_results": False, "max_rounds": 1}, temperature=0,
                   system_prompt="You are a voice assistant. Use the get_time tool to tell the time.") as r:
        r.stage.tools.clock = lambda: __import__("datetime").datetime(2026, 11, 25, 14, 35)
        reply, out = await r.ask("What time is it now?")
        (m,) = r.metrics
        assert m.get("tool_calls") == ["get_time"], (reply, m)
        assert [a["backend"] for a in m["attempts"]] == ["remote", "remote"], "two rounds, both remote"
        assert "14:35" in reply or "2:35" in reply, reply
        assert not [f for f in out if isinstance(f, ErrorEvent)]


async def test_native_tool_calls_are_validated_like_text_ones(server):
    """Forcing the function makes llama-cpp-python's server return OpenAI `tool_calls` deltas."""
    from omni.dialogue.tools import ToolRegistry, ToolsOptions

    reg = ToolRegistry(ToolsOptions(builtin=[]), [LIGHT])
    forced = {"tool_choice": {"type": "function", "function": {"name": "light"}}}
    be = OpenAIBackend("remote", OpenAIBackendOptions(**{**remote(server), "extra_body": forced}))
    await be.load(noop)
    try:
        req = ChatRequest([{"role": "user", "content": "Switch on the light in the kitchen."}], reg.schemas(),
                          max_tokens=60, temperature=0)
        deltas = [d async for d in be.stream(req)]
    finally:
        await be.aclose()
    (calls,) = [d for d in deltas if isinstance(d, ToolCallDelta)]
    (call,) = calls.calls
    assert call.name == "light" and call.id
    result = await reg.call(call)
    assert result.ok and result.action == ("light", {"room": "kitchen", "state": "on"}), result.content
    assert isinstance(deltas[-1], Finished) and deltas[-1].usage.completion_tokens > 0


# failover -------------------------------------------------------------------------------------------

async def test_killed_mid_stream_the_local_backend_finishes_the_reply():
    with llama_server() as (url, proc):
        async with Run(backends={"remote": remote(url), "local": {"type": "llama.cpp"}},
                       routing={"order": ["remote", "local"]}, tools={"max_rounds": 0}, max_tokens=60) as r:
            heard: list[str] = []
            errors = []
            done = None
            async for f in r.frames("Tell me a short story about a fox and a crow."):
                if isinstance(f, ReplyToken):
                    heard.append(f.text)
                    if len(heard) == 1:  # (the reply streams clause by clause)
                        os.kill(proc.pid, signal.SIGKILL)  # the server dies mid-reply
                elif isinstance(f, ErrorEvent):
                    errors.append(f)
                elif isinstance(f, ReplyDone):
                    done = f
            assert proc.wait(5) == -signal.SIGKILL
    assert done is not None and done.reason == "complete"
    (m,) = r.metrics
    assert [(a["backend"], a["outcome"]) for a in m["attempts"]] == [("remote", "error"), ("local", "answered")]
    assert m["backend"] == "local" and "failover to local after remote error" in m["reason"]
    assert len(heard) > 5, "the local backend went on with the reply"
    said = "".join(heard[:3]).strip()
    assert done.text == "".join(heard).strip() and done.text.startswith(said), "what was said is kept"
    assert not "".join(heard[3:]).lstrip().startswith(said), "and not said again by the backend that goes on"
    assert not errors, "a failover is not a turn error"


async def test_a_server_that_never_answers_misses_its_first_token_budget_then_sits_out():
    async with silent_server() as url:
        async with Run(backends={"hung": remote(url, first_token_ms=600), "local": {"type": "llama.cpp"}},
                       routing={"order": ["hung", "local"], "breaker": {"failures": 1, "cooldown_s": 60}},
                       tools={"max_rounds": 0}, max_tokens=24) as r:
            reply, _ = await r.ask("What is the capital of France?")
            assert "paris" in reply.lower()
            hung, local = r.metrics[0]["attempts"]
            assert (hung["backend"], hung["outcome"]) == ("hung", "first_token_budget")
            # at the budget, not at the read timeout (20 s); the margin is for a loaded machine
            assert 600 <= hung["ms"] < 600 + 4000, "gives up at the budget, not the read timeout"
            assert local["outcome"] == "answered" and r.metrics[0]["backend"] == "local"
            st = r.stage.backends["local"].engine.last
            assert st.cached_tokens == st.prompt_tokens, "the local model read the prompt while the other hung"
            # the breaker keeps it out of the next turn
            reply2, _ = await r.ask("And of Italy?", 2)
            assert "rome" in reply2.lower()
            skipped, _ = r.metrics[1]["attempts"]
            assert skipped["outcome"] == "skipped" and "circuit open" in skipped["detail"]


async def test_a_dialogue_over_its_budget_fails_over_as_its_pipeline_file_declares():
    """`over_budget: {action: failover, after_ms: 600}` on the stage, none on the backend: a
    server with no first token by then gives way to the next backend, and the turn's record
    counts the action."""
    from omni.runtime.metrics import TurnRecorder, summarize
    from omni.runtime.stage import OverBudget

    async with silent_server() as url:
        async with Run(backends={"hung": remote(url), "local": {"type": "llama.cpp"}},
                       routing={"order": ["hung", "local"]}, tools={"max_rounds": 0}, max_tokens=24) as r:
            r.stage.over_budget = OverBudget(action="failover", after_ms=600)
            recorder = TurnRecorder({"llm": 400}, done_stage="llm")
            r.stage.context.reporter = recorder.report
            reply, out = await r.ask("What is the capital of France?")
            for f in out:
                recorder.on_frame("llm", f)
    assert "paris" in reply.lower()
    (rec,) = recorder.finished
    hung, local = rec.stages["llm"].extra["attempts"]
    assert (hung["backend"], hung["outcome"]) == ("hung", "first_token_budget") and 600 <= hung["ms"] < 4600
    assert local["outcome"] == "answered"
    assert rec.acted == ["llm.failover"] and summarize([rec])["over_budget"] == {"llm.failover": 1}


async def test_a_reply_that_stalls_mid_stream_fails_over_after_stall_ms():
    """The remote sends "The capital of" and then nothing: after routing.stall_ms without a
    delta the local model answers, and what was said before the stall is not said twice."""
    async with stalling_server(["The capital", " of"]) as url:
        async with Run(backends={"stalls": remote(url), "local": {"type": "llama.cpp"}},
                       routing={"order": ["stalls", "local"], "stall_ms": 800}, tools={"max_rounds": 0},
                       max_tokens=24) as r:
            reply, _ = await r.ask("What is the capital of France?")
    stalled, local = r.metrics[0]["attempts"]
    assert (stalled["backend"], stalled["outcome"]) == ("stalls", "stalled"), stalled
    assert stalled["ms"] >= 800 and "no delta for 800 ms" in stalled["detail"]
    # at stall_ms, not at the read timeout (20 s); the margin is for a loaded machine
    assert stalled["ms"] < 800 + 4000
    assert local["outcome"] == "answered" and r.metrics[0]["backend"] == "local"
    assert "paris" in reply.lower(), reply
    assert reply.lower().count("the capital") <= 1, reply


async def test_a_backend_without_its_api_key_is_skipped_and_the_others_answer(monkeypatch):
    """A cloud backend first in line whose key is not set: the turn is answered by the local
    model, the record says why the cloud was not asked, and nothing was sent anywhere."""
    monkeypatch.delenv("OMNI_TEST_NO_KEY", raising=False)
    cloud = {"type": "openai", "base_url": "https://api.example.com/v1", "model": "gpt-4o-mini",
             "api_key_env": "OMNI_TEST_NO_KEY"}
    async with Run(backends={"cloud": cloud, "local": {"type": "llama.cpp"}},
                   routing={"order": ["cloud", "local"], "offline_only": False}, tools={"max_rounds": 0},
                   max_tokens=24) as r:
        reply, out = await r.ask("What is the capital of France?")
    assert "paris" in reply.lower(), reply
    skipped, local = r.metrics[0]["attempts"]
    assert (skipped["backend"], skipped["outcome"]) == ("cloud", "skipped"), skipped
    assert "OMNI_TEST_NO_KEY" in skipped["detail"] and skipped["ms"] < 50, skipped
    assert local["outcome"] == "answered" and r.metrics[0]["backend"] == "local"
    assert not [f for f in out if isinstance(f, ErrorEvent)], "an answered turn is not an error"


async def test_when_every_backend_fails_the_turn_still_gets_a_spoken_answer():
    async with silent_server() as url:
        async with Run(backends={"a": remote(url, first_token_ms=300), "b": remote(url, first_token_ms=300)},
                       routing={"order": ["a", "b"]}, tools={"max_rounds": 0}) as r:
            reply, out = await r.ask("Hello?")
    assert reply == "Sorry, I can't answer right now."
    (err,) = [f for f in out if isinstance(f, ErrorEvent)]
    assert "a first_token_budget" in err.message and "b first_token_budget" in err.message


# the fast path and tools on the local model ---------------------------------------------------------

@pytest.fixture(scope="module")
def matcher() -> IntentMatcher:
    from omni.dialogue.tools import ToolRegistry, ToolsOptions

    m = IntentMatcher(IntentOptions(examples=EXAMPLES), ToolRegistry(ToolsOptions(), [LIGHT, VOLUME, STOP]).targets())
    m.load(noop)
    return m


@pytest.mark.parametrize("text, action, args", [
    ("Turn on the kitchen light.", "light", {"room": "kitchen", "state": "on"}),
    ("Switch off the bedroom light, please.", "light", {"room": "bedroom", "state": "off"}),
    ("Living room lights on.", "light", {"room": "living room", "state": "on"}),
    ("Turn the volume up.", "volume", {"direction": "up"}),
    ("Make it louder.", "volume", {"direction": "up"}),
    ("Stop.", "stop", {}),
    ("What's the time?", "get_time", {}),
    ("Set a timer for ten minutes.", "set_timer", {"seconds": 600}),
    ("Start a 90 second timer.", "set_timer", {"seconds": 90}),
])
def test_clear_commands_take_the_fast_path(matcher, text, action, args):
    m, score = matcher.match(text)
    assert m is not None, f"{text!r}: best similarity {score:.2f}"
    assert (m.action, m.args) == (action, args)


@pytest.mark.parametrize("text", [
    "What is the capital of France?",
    "Turn on the light.",                       # which room? the LLM asks
    "Turn the kitchen light on and then off.",  # two states: not a clear command
    "Tell me a story about a stop sign.",
    "Set a timer.",                             # for how long? the LLM asks
])
def test_everything_else_goes_to_the_llm(matcher, text):
    assert matcher.match(text)[0] is None


def test_a_command_wrapped_in_other_words_is_near_its_action_but_not_acted_on(matcher):
    """'Alright, I've heard enough, thanks, stop there.' was far from every example as a whole
    (0.31 to "stop"), so the model was not offered the stop tool. A part of the turn near an
    action makes the turn that near (which tools are offered); acting at once still needs the
    whole turn to match."""
    text = "Right, thanks a lot, that's plenty for today, stop there."
    m, score, near = matcher.assess(text)
    whole = matcher.model.encode_one("right thanks a lot that's plenty for today stop there") @ matcher.vectors.T
    assert m is None and float(whole.max()) < 0.5, float(whole.max())
    assert near["stop"] >= 0.7 and near["stop"] > max(v for k, v in near.items() if k != "stop"), near
    assert matcher.assess("I just got back from a long walk by the river.")[2]["stop"] < 0.5


async def test_fast_path_acts_and_confirms_without_the_llm():
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"examples": EXAMPLES}) as r:
        eng = r.stage.backends["local"].engine
        before = eng.last
        reply, out = await r.ask("Turn on the kitchen light.")
        assert eng.last is before, "no LLM call"
    (act,) = [f for f in out if isinstance(f, DeviceAction)]
    assert (act.action, act.args, act.source) == ("light", {"room": "kitchen", "state": "on"}, "intent")
    assert reply == "Kitchen light on."
    (m,) = r.metrics
    assert m["backend"] == "intent" and "similarity" in m["reason"] and m["ms"] < 1000


async def test_a_failing_tool_is_told_to_the_user_and_reported():
    async with Run(intents={"examples": EXAMPLES}, actions=[LIGHT, VOLUME, STOP],
                   tools={"max_timers": 1}) as r:
        first, _ = await r.ask("Set a timer for ten minutes.")
        second, out = await r.ask("Set a timer for five minutes.", 2)
        assert len(r.stage.tools.timers) == 1
    assert first == "Timer set for 10 minutes."
    assert second == "Sorry, that didn't work: set_timer failed: 1 timer is already running (limit 1)."
    (err,) = [f for f in out if isinstance(f, ErrorEvent)]
    assert "limit 1" in err.message and err.turn is not None and err.turn.id == 2


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
    local = {"type": "llama.cpp", "tools_place": "turn"}
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


async def test_local_tool_call_acts_and_confirms():
    """The compact model turns a command the fast path does not take into an allow-listed action."""
    async with Run(actions=[LIGHT], intents={"enabled": False}, tools={"builtin": []}, temperature=0) as r:
        reply, out = await r.ask("Please switch the bedroom light off for me.")
    acts = [(f.action, f.args, f.source) for f in out if isinstance(f, DeviceAction)]
    assert acts == [("light", {"room": "bedroom", "state": "off"}, "tool")], (acts, reply)
    assert reply == "Bedroom light off."
    assert r.metrics[0]["tool_calls"] == ["light"]


async def test_context_frames_reach_the_model():
    from omni.frames import ContextUpdate

    async with Run(tools={"max_rounds": 0}, max_tokens=30, temperature=0) as r:
        [_ async for _ in r.stage.process(ContextUpdate(source="camera", text="a red stop sign on a pole",
                                                         captured=time.monotonic()))]
        reply, _ = await r.ask("What colour is the sign I am looking at?")
    assert "red" in reply.lower(), reply


async def test_with_the_tools_in_the_system_prompt_a_tool_turn_evaluates_only_its_words():
    """tools_place: system keeps the note of every tool cached after the system prompt: a
    turn that offers a tool does not evaluate the note anew, and a turn that offers none still may not call."""
    local = {"type": "llama.cpp", "tools_place": "system"}
    async with Run(actions=[LIGHT, VOLUME, STOP], intents={"enabled": False}, tools={"builtin": []},
                   temperature=0, backends={"local": local}) as r:
        eng = r.stage.backends["local"].engine
        await r.ask("Good morning.")
        await r.stage.idle()
        said = "Please switch the bedroom light off for me."
        reply, out = await r.ask(said, 2)
        st = eng.last
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


async def test_the_words_every_tools_note_starts_with_are_read_ahead_with_the_history():
    """notes_ahead (off by default). tools_place: turn puts a tool turn's note before its words, so it is
    evaluated on that turn; the chat template's words that start every note ("# Tools ... <tools>")
    are read ahead between turns, with the history, and a turn that offers no tool loses nothing."""
    local = {"type": "llama.cpp", "tools_place": "turn", "notes_ahead": True}
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
