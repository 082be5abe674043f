"""What a transport may do to a running assistant (ask, say, mute, set options), in one object
the composition root makes for each run."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from omni.errors import ConfigError
from omni.frames import Frame, SayText, Transcript, Turn
from omni.runtime.floor import Floor
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


class Controls:
    """What a transport may do to a running assistant: ask, say, mute, set options. The only way
    in from outside: a transport never sets a stage's or the player's fields itself."""

    def __init__(self, stages: Sequence[Stage], player: Speaker, floor: Floor, inbox: Inbox,
                 sample_rate: int, actions: Mapping[str, Any] | None = None) -> None:
        self._stages = {s.name: s for s in stages}
        self._player = player
        self._floor = floor
        self._transport = inbox
        self._rate = sample_rate
        self._actions = dict(actions or {})

    # text turns --------------------------------------------------------------------------
    def ask(self, text: str) -> Turn:
        """A question in words: answered as if it had been said."""
        turn = self._turn()
        self._transport.inject(Transcript(turn=turn, text=safe_text(text).strip()))
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

    def options(self, stage: str) -> StageOptions:
        """A stage's options as they are now (read only)."""
        return self._stages[stage].options

    @property
    def actions(self) -> Mapping[str, Any]:
        """The pipeline's allow-list of device actions, by name (omni.dialogue.tools.ActionSpec)."""
        return dict(self._actions)
