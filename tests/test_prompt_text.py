"""No text omni writes for its model reaches the speaker, in any path; nor the user's words said back.

Each text the dialogue can send (its system prompt, every note, the tools' text, the chat
template's own words for tools, from the real bundled model) is replayed as the model's reply to
a statement, token by token as a model streams: nothing of it in five words in a row is spoken.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from helpers import Scripted
from omni.config import load_pipeline
from omni.config.loader import PIPELINES_DIR
from omni.dialogue.guard import ClaimGuard
from omni.dialogue.prompts import RUN, PromptEcho
from omni.dialogue.router import Router, RoutingOptions
from omni.frames import ReplyDone, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions


def desktop_dialogue(**overrides: Any) -> Dialogue:
    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml")
    spec = next(s for s in cfg.stages if s.kind == "dialogue")
    opts = DialogueOptions.model_validate({**spec.options, "prefill_next": False, **overrides})
    return Dialogue("llm", opts)


async def reply_to(stage: Dialogue, replies: list[str], text: str) -> str:
    stage.backends = {"local": Scripted(replies)}
    stage.router = Router(stage.backends, RoutingOptions(order=["local"]))
    turn = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)
    out = [f async for f in stage.process(Transcript(turn=turn, text=text))]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    return done.text


def runs(text: str, n: int = RUN) -> set[tuple[str, ...]]:
    w = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?:])\s+|\n+", text) if len(re.findall(r"[a-z0-9']+", s.lower())) >= RUN]


@pytest.fixture
async def loaded() -> AsyncIterator[Dialogue]:
    """The desktop pipeline's dialogue, loaded with the real default model (its chat template
    writes the tools' text); each test then scripts what the model says."""
    stage = desktop_dialogue()
    await stage.load(lambda *a: None)
    try:
        yield stage
    finally:
        await stage.aclose()


async def test_every_text_the_dialogue_writes_for_its_model_is_never_spoken(loaded):
    texts = loaded.instructions()
    assert any("<tools>" in t for t in texts), "the chat template's tool text is among them"
    assert any(loaded.options.not_a_request_note in t for t in texts)
    said = "I planted some sunflowers on the balcony."
    checked = 0
    for text in texts:
        for sentence in sentences(text):
            # a template's slots filled in as omni fills them; its fixed words are what must not be spoken
            filled = sentence.replace(" | ", " camera ")
            loaded.memory.history.clear()
            spoken = await reply_to(loaded, [filled], said)
            leaked = runs(spoken) & set().union(*(runs(part) for part in sentence.split(" | ")))
            assert not leaked, f"spoken {spoken!r} holds {leaked} of the prompt text {sentence!r}"
            checked += 1
    assert checked >= 10, checked


async def test_a_prompt_sentence_inside_an_answer_is_dropped_and_the_answer_kept():
    stage = desktop_dialogue()
    note = stage.options.not_a_request_note
    spoken = await reply_to(stage, [f"Sunflowers love the sun. {note}"], "I planted some sunflowers on the balcony.")
    assert spoken.startswith("Sunflowers love the sun."), spoken
    assert not runs(spoken) & runs(note), spoken


def test_a_streamed_echo_of_the_user_is_judged_whole_and_not_spoken():
    said = "It was the best of times, it was the worst of times."
    g = ClaimGuard(lambda: [], said=said)
    out = "".join(g.feed(w + " ") for w in "It was the best of times, it was the worst of times.".split())
    out += g.flush()
    assert out.strip() == "", out
    assert g.echoed
    # a reply that starts like the user's words and goes its own way is spoken, clause by clause
    g = ClaimGuard(lambda: [], said="I finished reading that book last night.")
    first = "".join(g.feed(w + " ") for w in "I finished it too, it was a great read".split())
    assert first.strip() == "I finished it too,", first


def test_a_clause_is_never_spoken_in_part():
    """A clause that ends in a claim is dropped whole: none of it went out before its end."""
    g = ClaimGuard(lambda: [], said="Turn on the garden lights.")
    out = "".join(g.feed(w + " ") for w in "I can't do that, but I can tell you that the garden lights are now on.".split())
    out += g.flush()
    assert out.strip() == "I can't do that,", out


def test_prompt_echo_ignores_what_the_user_said_and_filled_in_slots():
    echo = PromptEcho(["Answer the user's last message from these results in one short sentence.",
                       "the last update is | s old"])
    assert echo.find("Please answer the user's last message from these results.") == "answer the user's last message"
    assert echo.find("Answer the user's last message from me", said="answer the user's last message from me") is None
    assert echo.find("the last update is 12 s old") is None  # a filled-in slot breaks a run


async def test_what_omni_is_may_be_said_back_from_its_note():
    """`llm.self_note` tells the model what omni is (asked once more after "Who made you?" was
    answered "I was created by OpenAI"); a reply that tells the user so, in those words, is an
    answer and not the note read out."""
    stage = desktop_dialogue()
    assert "made by the open-source omni project" in stage.options.self_note
    told = ("I'm omni, a voice assistant made by the open-source omni project, running on this device. "
            "I'm software, not a person: I have no body, home, family or life of my own.")
    spoken = await reply_to(stage, [told], "Who made you?")
    assert spoken == told, spoken
    # the rest of the prompt is still never spoken
    spoken = await reply_to(stage, ["Answer questions directly and correctly; if you do not know, say so."], "Who made you?")
    assert "directly and correctly" not in spoken, spoken
    spoken = await reply_to(stage, ["I'm omni, a friendly voice assistant made by the project."], "Who made you?")
    assert "friendly voice assistant" not in spoken, spoken  # "omni, a friendly voice assistant" is the prompt's
