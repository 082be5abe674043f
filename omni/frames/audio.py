"""Audio frames: the user's audio in, the user's utterances, the assistant's audio out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni.frames.base import Frame, Tier, Turn


@dataclass(frozen=True, kw_only=True, eq=False)
class InputAudio(Frame):
    """A chunk of the user's audio as it entered the pipeline (t = when its last sample arrived)."""

    samples: np.ndarray
    """Mono float32 samples in [-1, 1] at `sample_rate`."""
    sample_rate: int
    """Samples per second."""
    start: int
    """Index of the first sample on the input timeline."""


@dataclass(frozen=True, kw_only=True, eq=False)
class SpeechStarted(Frame):
    """The VAD heard the user start speaking (t = entry time of the onset chunk)."""

    tier = Tier.SYSTEM
    start: int
    """Index of the first speech sample on the input timeline."""
    sample_rate: int
    """Rate of the input timeline."""
    resumed: bool = False
    """The user goes on after a SpeechPaused: the same utterance continues."""


@dataclass(frozen=True, kw_only=True, eq=False)
class SpeechStopped(Frame):
    """The VAD decided the user stopped speaking; an Utterance follows unless `dropped`."""

    tier = Tier.SYSTEM
    end: int
    """Index just past the last speech sample on the input timeline."""
    dropped: bool = False
    """True when the speech was too short to count as an utterance."""


@dataclass(frozen=True, kw_only=True, eq=False)
class SpeechPaused(Frame):
    """The user paused long enough for a decode of the speech so far (the VAD's
    `speech_pad_ms` of silence, before the end-of-turn model is asked). `turn` is the turn this speech
    becomes if the pause ends it: the very same object arrives in the Utterance then, so a
    recognizer and the dialogue can start on it early and know whether their work is used."""

    tier = Tier.CONTROL
    turn: Turn


@dataclass(frozen=True, kw_only=True, eq=False)
class Utterance(Frame):
    """One complete user utterance, cut by the VAD (with padding), that starts a turn."""

    turn: Turn
    """The turn this utterance starts."""
    samples: np.ndarray
    """Mono float32 samples of the utterance, padded on both sides."""
    sample_rate: int
    """Samples per second."""
    truncated: bool = False
    """True when the utterance hit the maximum length and was cut; speech continues after it."""
    ended_by: str = "silence"
    """What ended the turn: model (end-of-turn model), silence, max_silence, max_length,
    end_of_stream."""
    overlapped: bool = False
    """Spoken over the assistant and short: a backchannel ("mhm") or a real turn ("stop!");
    the assistant is paused until the transcript tells which."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplyAudio(Frame):
    """A chunk of the assistant's synthesized speech (t = when it left TTS)."""

    turn: Turn
    """The turn this reply answers."""
    samples: np.ndarray
    """Mono float32 samples in [-1, 1]."""
    sample_rate: int
    """Samples per second (the voice's own rate)."""
    sentence: int
    """Index of the sentence within the reply, from 0."""
    text: str = ""
    """The sentence this audio speaks (so a player can tell how much of the reply was heard)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class WakeWord(Frame):
    """The wake word was heard (t = entry time of the chunk it was detected in): the assistant
    listens from here."""

    tier = Tier.SYSTEM
    name: str
    """Which wake word (the model's phrase, e.g. "Hey Jarvis")."""
    score: float
    """The detector's probability (mean over its sliding window)."""
    at: int
    """Input-timeline sample where it was detected (the end of the phrase)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class PushToTalk(Frame):
    """The talk key went down (pressed) or up: in push-to-talk mode the assistant hears only
    while it is down. In order with the audio (the samples that came in while it was down)."""

    tier = Tier.CONTROL
    pressed: bool


@dataclass(frozen=True, kw_only=True, eq=False)
class Cue(Frame):
    """A short sound for the speaker that is not a reply (the wake word's acknowledgement)."""

    tier = Tier.CONTROL
    samples: np.ndarray
    """Mono float32 samples in [-1, 1]."""
    sample_rate: int
    at: int
    """Input-timeline sample (at `input_rate`) from which it plays."""
    input_rate: int = 16000
