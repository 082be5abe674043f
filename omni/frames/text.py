"""Text frames: transcripts and the assistant's reply as tokens, sentences and a whole."""

from __future__ import annotations

from dataclasses import dataclass

from omni.frames.base import Frame, Tier, Turn


@dataclass(frozen=True, kw_only=True, eq=False)
class Transcript(Frame):
    """The final transcript of a user utterance. CONTROL: what the user said survives a
    barge-in (the user going on interrupts the reply to it, not the words), so the dialogue can
    carry them into the turn that continues them."""

    tier = Tier.CONTROL
    turn: Turn
    """The turn it belongs to."""
    text: str
    """The words heard; empty when nothing intelligible was said."""
    language: str | None = None
    """Language code reported by the recognizer, when known."""
    confidence: float | None = None
    """The recogniser's mean log-probability per token, when it gives one (a low one: it may
    have misheard; the dialogue asks instead of answering, see DialogueOptions.unsure_below)."""
    tentative: bool = False
    """Decoded at a pause, before the turn ended: the dialogue may start on it (a preemptive
    reply) but must not act until the final transcript of the same turn confirms the text."""
    typed: bool = False
    """Written by a client (a text turn), not heard: addressed to the assistant, whatever its
    words (see DialogueOptions.quiet_to_others)."""
    since: int | None = None
    """Decoded from the start of this earlier turn (the user went on from it in mid-sentence):
    `text` has that turn's words too, so they are not to be carried in again."""


@dataclass(frozen=True, kw_only=True, eq=False)
class SayText(Frame):
    """Text for the assistant to speak as it is (an announcement from a remote command: not a
    reply to anything the user said, and not added to the conversation)."""

    turn: Turn
    """The turn it is spoken in (a new one, made by whoever asked)."""
    text: str
    """What to say."""


@dataclass(frozen=True, kw_only=True, eq=False)
class PartialTranscript(Frame):
    """What the user has said so far, while they speak."""

    text: str
    """The whole hypothesis so far."""
    stable: str
    """Its leading words that two decodes in a row agreed on (they no longer change)."""
    start: int
    """Input sample where the speech began."""
    end: int
    """Input sample up to which the audio was decoded."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplyToken(Frame):
    """A piece of the reply text as the model streams it."""

    turn: Turn
    """The turn it answers."""
    text: str
    """The new text (one or more tokens)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplySentence(Frame):
    """A speakable piece of the reply (a sentence or a long clause)."""

    turn: Turn
    """The turn it answers."""
    text: str
    """Text to speak."""
    index: int
    """Position within the reply, from 0."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplyDone(Frame):
    """The reply of a turn is complete upstream of the stage that emits it."""

    tier = Tier.CONTROL
    turn: Turn
    """The turn it ends."""
    text: str
    """The whole reply text (empty when there was nothing to answer)."""
    reason: str = "complete"
    """Why the reply ended: complete, empty (nothing heard), aside (said to someone else: no
    reply), error."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplyPlayed(Frame):
    """The audio output has finished a turn's reply: played to its end, cut by the user, or
    dropped before it was heard (made by the player, the last stage)."""

    tier = Tier.CONTROL
    turn: Turn
    """The turn whose reply ended at the speaker."""
    text: str
    """What the user heard of it (all of it, unless interrupted)."""
    reason: str = "complete"
    """complete, empty, aside, error, backchannel, interrupted (as the ReplyDone it follows)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Answered(Frame):
    """A turn a stage before the dialogue answered (the look stage, a visual question): the
    dialogue keeps the exchange in its history, so a follow-up can refer to it."""

    tier = Tier.CONTROL
    turn: Turn
    """The turn that was answered."""
    text: str
    """What the user said."""
    reply: str
    """What the assistant answered."""
