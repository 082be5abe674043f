"""What a transport may do to a running assistant (ask, say, mute, set options), in one object
the composition root makes for each run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from omni.errors import ConfigError, InputError
from omni.frames import ClearInput, EditHistory, EndTurn, Frame, Remember, SayText, Transcript, Turn
from omni.runtime.floor import BargeIn, Floor
from omni.runtime.stage import Stage, StageOptions
from omni.strings import safe_text


class Speaker(Protocol):
    name: str

    def mute(self, on: bool) -> None: ...

    @property
    def muted(self) -> bool: ...


class Inbox(Protocol):
    """The run's input, as far as the controls are concerned (a transport)."""

    def inject(self, frame: Frame) -> None: ...

    @property
    def position(self) -> int: ...

    def listen(self, on: bool) -> None: ...

    @property
    def listening(self) -> bool: ...


BUILTIN_TOOLS = {"time": "get_time", "timer": "set_timer"}
"""A built-in tool's name in a pipeline file -> its name as a tool."""


@dataclass(frozen=True)
class Cut:
    """A reply stopped by `Controls.cancel`: what the user had heard of it."""

    turn: int
    heard: str
    """The words placed on the speaker before the cut ("" if none)."""
    heard_ms: float | None
    """Milliseconds of its audio placed before the cut (None: a player that cannot say)."""


class Controls:
    """What a transport may do to a running assistant: ask, say, mute, set options. The only way
    in from outside: a transport never sets a stage's or the player's fields itself."""

    def __init__(self, stages: Sequence[Stage], player: Speaker, floor: Floor, inbox: Inbox,
                 sample_rate: int, actions: Mapping[str, Any] | None = None,
                 transcribe: Callable[[np.ndarray, int], Awaitable[str]] | None = None) -> None:
        self._stages = {s.name: s for s in stages}
        self._player = player
        self._floor = floor
        self._transport = inbox
        self._rate = sample_rate
        self._actions = dict(actions or {})
        self._transcribe = transcribe

    # text turns --------------------------------------------------------------------------
    def ask(self, text: str) -> Turn:
        """A question in words: answered as if it had been said."""
        turn = self._turn()
        self._transport.inject(Transcript(turn=turn, text=safe_text(text).strip(), typed=True))
        return turn

    def say(self, text: str) -> Turn:
        """An announcement: spoken as it is (no model, no history)."""
        turn = self._turn()
        self._transport.inject(SayText(turn=turn, text=safe_text(text).strip()))
        return turn

    def _turn(self) -> Turn:
        pos = self._transport.position
        return Turn(id=self._floor.next_turn_id(), speech_start=pos, speech_end=pos,
                    t_speech_end=time.monotonic(), sample_rate=self._rate)

    # the turn --------------------------------------------------------------------------
    def cancel(self) -> list[Cut]:
        """Stop the reply now, audible or still being made (its turn ends as interrupted; the
        history keeps what was heard). Returns what was heard of each reply stopped."""
        barge = BargeIn(onset=self._transport.position, sample_rate=self._rate, t=time.monotonic())
        timeline = getattr(self._player, "timeline", None)
        return [Cut(s.turn.id, s.heard or "", timeline.heard_ms(s.turn.id) if timeline is not None else None)
                for s in self._floor.cancel(barge)]

    def commit(self) -> None:
        """End the user's turn now (push-to-talk let go, a client's commit): the speech heard
        so far is transcribed and answered without waiting for the end-of-turn model."""
        self._transport.inject(EndTurn())

    def clear(self) -> None:
        """Forget the user's speech of this turn so far: it is not transcribed or answered."""
        self._transport.inject(ClearInput())

    def remember(self, user: str = "", reply: str = "") -> int:
        """Add an exchange to the history without answering it (either side may be empty).
        Returns the turn id it is kept under (for `edit`)."""
        if not (user.strip() or reply.strip()):
            raise InputError("remember: give the user's words, the reply, or both")
        turn = self._floor.next_turn_id()
        self._transport.inject(Remember(user=safe_text(user), reply=safe_text(reply), turn=turn))
        return turn

    def edit(self, turn: int, user: str | None = None, reply: str | None = None) -> None:
        """Change what the history keeps of a turn that has ended: a side given replaces that
        side ("" removes it). A client's truncate (the reply as far as it was heard) or delete."""
        if user is None and reply is None:
            raise InputError("edit: give the user's words, the reply, or both")
        self._transport.inject(EditHistory(turn=turn, user=None if user is None else safe_text(user),
                                           reply=None if reply is None else safe_text(reply)))

    async def remember_audio(self, samples: np.ndarray, sample_rate: int) -> str:
        """Add what the user said in this audio to the history (transcribed with the session's
        recogniser); returns the words."""
        if self._transcribe is None:
            raise ConfigError("this session has no recogniser to transcribe audio with")
        text = await self._transcribe(samples, sample_rate)
        if text.strip():
            self.remember(user=text)
        return text

    # the microphone ----------------------------------------------------------------------
    def listen(self, on: bool) -> None:
        """Stop hearing the input (it becomes silence on the same timeline), or hear it again."""
        self._transport.listen(on)

    @property
    def listening(self) -> bool:
        return self._transport.listening

    # the speaker -------------------------------------------------------------------------
    def mute(self, on: bool) -> None:
        """Silence the speaker at once (replies go on, unheard), or unmute it."""
        self._player.mute(on)

    @property
    def muted(self) -> bool:
        return self._player.muted

    @property
    def player_name(self) -> str:
        return self._player.name

    # settings ----------------------------------------------------------------------------
    def settings(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Set live options, `{"stage.option": value}`: every stage checks its part first, so all
        change or none (ConfigError says why). Returns the changes per stage."""
        per_stage: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            stage, _, opt = key.partition(".")
            if stage not in self._stages:
                raise ConfigError(f"settings: no stage named {stage!r} (stages: {sorted(self._stages)})")
            per_stage.setdefault(stage, {})[opt] = value
        for name, v in per_stage.items():
            self._stages[name].check_options(v)
        for name, v in per_stage.items():
            self._stages[name].update_options(v)
        return per_stage

    def instruct(self, text: str) -> None:
        """The session's instructions (the dialogue's system prompt) from its next turn."""
        self.settings({f"{self._stage_with('system_prompt')}.system_prompt": safe_text(text).strip()})

    def voice(self, name: str) -> None:
        """Speak in this voice (a bundled name or a voice file) from the next sentence."""
        self.settings({f"{self._stage_with('voice')}.voice": name})

    def tools_off(self, names: Sequence[str]) -> None:
        """Turn these device actions and built-in tools (`time`/`get_time`, `timer`/`set_timer`)
        off for this session; an empty list turns them all on again."""
        stage = self._stage_with("tools_off")
        known = set(self._actions) | set(BUILTIN_TOOLS) | set(BUILTIN_TOOLS.values())
        unknown = sorted(set(names) - known)
        if unknown:
            raise ConfigError(f"tools_off: unknown {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}")
        self.settings({f"{stage}.tools_off": sorted({BUILTIN_TOOLS.get(n, n) for n in names})})

    def _stage_with(self, option: str) -> str:
        for name, stage in self._stages.items():
            if option in type(stage.options).model_fields and option in stage.live_options:
                return name
        raise ConfigError(f"this pipeline has no stage with a live {option!r}")

    def options(self, stage: str) -> StageOptions:
        """A stage's options as they are now (read only)."""
        return self._stages[stage].options

    @property
    def actions(self) -> Mapping[str, Any]:
        """The pipeline's allow-list of device actions, by name (omni.dialogue.tools.ActionSpec)."""
        return dict(self._actions)
