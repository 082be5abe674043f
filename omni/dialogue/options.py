"""The dialogue's options: its prompt, backends, routing, memory, allow-list and canned replies."""

from __future__ import annotations

from pydantic import Field

from omni.dialogue.backends import AnyBackendOptions, LlamaBackendOptions
from omni.dialogue.intents import REFUSE as _REFUSE
from omni.dialogue.intents import IntentOptions
from omni.dialogue.memory import MemoryOptions
from omni.dialogue.router import RoutingOptions
from omni.dialogue.tools import ActionSpec, ToolsOptions
from omni.runtime import StageOptions

REFUSE = _REFUSE
"""The intent target of requests the pipeline declares out of bounds (defined with the intents)."""

SAID_OF_ITSELF = ("a voice assistant made by the open-source omni project, running on this device",
                  "software, not a person", "no body, home, family or life of your own")
"""What omni tells the model of itself (`self_note`): words it may say back when asked (they are
not read out as instructions)."""

ABOUT_OMNI = f"You are omni, {SAID_OF_ITSELF[0]}. You are {SAID_OF_ITSELF[1]}: you have {SAID_OF_ITSELF[2]}."

DEFAULT_SYSTEM_PROMPT = (
    "You are omni, a friendly voice assistant. The user talks to you and hears your reply, so answer in one "
    "or two short, natural spoken sentences, with no lists, markdown or code. Answer questions directly and "
    "correctly; if you do not know, say so. When the user tells you about something, reply to that very "
    "thing as a friend would, with a warm remark or a short question about it."
)


class DialogueOptions(StageOptions):
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = Field(80, ge=1, le=4096)
    temperature: float = Field(0.2, ge=0, le=2)
    backends: dict[str, AnyBackendOptions] = Field(default_factory=lambda: {"local": LlamaBackendOptions()})
    """Chat backends by name; `type` is llama.cpp (local GGUF) or openai (any compatible endpoint)."""
    routing: RoutingOptions = Field(default_factory=RoutingOptions)
    memory: MemoryOptions = Field(default_factory=MemoryOptions)
    actions: list[ActionSpec] = Field(default_factory=list)
    """The allow-list of device actions."""
    intents: IntentOptions = Field(default_factory=lambda: IntentOptions(enabled=False))
    tools: ToolsOptions = Field(default_factory=ToolsOptions)
    refusal: str = "Sorry, I can't do that."
    """Spoken when the model called a tool or action the user's words do not ask for."""
    not_a_request_note: str = ("The user is not asking you to do anything: answer with one short, "
                               "friendly sentence about what they said.")
    """Told the model when it refused a turn that asked for nothing (it answers once more)."""
    unknown_note: str = ("If the user's question is about their own home, belongings or family, which you "
                         "cannot see or check, say that you don't know; if it asks what anyone may know, answer it.")
    """Told the model when it answered a yes-or-no question with "Yes," or "No," and the question said
    back as a fact ("Is the baby still asleep upstairs?" -> "Yes, the baby is still asleep
    upstairs."): made up, when nothing omni has can tell. It answers once more, and that is spoken."""
    self_note: str = ABOUT_OMNI
    """Told the model when its reply gave omni a maker, a human self, a home or a family ("I was
    created by OpenAI.", "Yes, I am a real person."): not spoken; it answers once more. (In the
    system prompt instead, it helped such questions and cost more replies elsewhere than it won:
    docs/benchmarks.md, twenty-fourth session.)"""
    self_reply: str = "I'm omni, a voice assistant: software, not a person."
    """Spoken when it did so once more (a last resort: counted as a canned line)."""
    unsure_reply: str = "Sorry, I'm not sure what you'd like me to do."
    """Spoken when the model's only words were the user's said back (or omni's prompt read out)."""
    retry_temperature: float | None = Field(0.8, ge=0, le=2)
    """When a reply's every word was dropped as the user's said back or omni's prompt read out,
    the model answers once more at this temperature, in words only (the local model not starting
    as the dropped reply did), before a canned line is spoken; nothing that draw claims is done.
    Not after a refusal (the model's no may be right), a dropped claim, a refused request, a room
    asked for or a note relayed. None: the canned line at once. (The turn's first-token figure
    stays the first sample's; `first_out_ms` is when words left.)"""
    acknowledge: str = "Okay."
    """Spoken when the model's only words claimed or promised an action to a turn that asked for none."""
    not_done_reply: str = "I haven't done that."
    """Spoken when the model's only words claimed an action that was not done."""
    cannot_tell: str = "I can't tell from here."
    """Spoken when the model's only words told how a device is, to a question of how it is ("Is
    the kitchen light on?" -> "The kitchen light is on."): no action reads a device, so it made
    that up. What the device's action can do follows it."""
    set_by_me: str | None = "I set it myself {when}: {done}"
    """Said, without the model, to a question of how a thing is that omni itself set in this
    conversation ("Is the kitchen light on now?" after switching it on): {when} is "just now"
    (the turn before) or "earlier", {done} the action's confirmation. No action reads a device,
    so this is what omni knows. None: such a question goes to the model like any other."""
    unsure_below: float | None = Field(None, le=0)
    """A transcript the recogniser gives a mean log-probability per token below this (it may
    have misheard) is not answered: the user hears `say_again` and nothing acts. None: off."""
    say_again: str = "Sorry, I didn't catch that. Could you say it again?"
    """Asked back for a transcript the recogniser doubts (see unsure_below)."""
    fallback_reply: str = "Sorry, I can't answer right now."
    """Spoken when every backend failed, so the assistant never goes silent."""
    carry_within_s: float = Field(2.0, ge=0)
    """A turn interrupted before a word of its reply was heard, by the user going on within
    this many seconds, is carried into the next turn (the pause was not the end)."""
    quiet_to_others: bool = True
    """Words said to someone else in the room get no reply: a turn that names a person on its own
    ("Kids, dinner's ready!", "Where are my slippers, mum?") or says "not you" is left unanswered
    (ReplyDone reason `aside`, a log line, `aside` in the turn's metrics). A typed turn (a
    client's text) is always answered. False: every turn is answered. See omni.dialogue.address."""
    household: list[str] = Field(default_factory=list)
    """Names of the people in the room ("Tom", "Anna"): said on their own like a word for a person
    ("Tom, put your shoes on."), they mark words said to someone else too. Not the assistant's own
    name."""
    preemptive: bool = True
    """Start the reply on the transcript decoded at a pause, before the turn has ended; its
    output is held back (and no tool acts) until the final transcript confirms the words,
    and thrown away if it differs or the user goes on."""
    tools_off: list[str] = Field(default_factory=list)
    """Device actions and built-in tools turned off for this conversation (live: a client's
    session update): the model is not offered them, the fast path does not act on them, and
    the system prompt does not say it can."""
    prefill_next: bool = True
    """After each turn, the local model reads the updated history while the user listens, so
    the next turn evaluates only its new words (matters after fast-path and remote turns)."""
