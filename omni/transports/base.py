"""A transport: where a run's frames come from, where its audio goes, and the controls it offers.

The composition root (omni.app.session) builds every run the same way from a pipeline file, a
transport and observers; files, live devices and the MQTT node are three transports, and the
next one (a browser page, Wyoming, an API) is one more file here. See docs/extending.md.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from omni.audio.sink import PlaybackEvents, WavFileSink
from omni.errors import ConfigError
from omni.frames import Frame, SayText, Transcript, Turn
from omni.runtime.floor import Floor
from omni.runtime.stage import Stage, StageOptions

if TYPE_CHECKING:
    from omni.app.session import Session
    from omni.config import PipelineConfig
    from omni.dialogue.tools import ActionSpec


class Transport(abc.ABC):
    """One way to reach the assistant. The root calls, in this order: `open` (before any model
    loads, so bad input fails at once), `player`, `attach`, then after loading `start`,
    `frames` and `serve` (side by side with the pipeline), `stop_input` when the run is to end,
    `finish` once the pipeline has drained, and `close` (always)."""

    name = "transport"
    realtime = True
    """Time means something here: a reply lasts as long as it sounds and can be talked over."""
    echo_path = True
    """The player's sound can reach the input (an echo canceller has work to do)."""
    camera: str | None = None
    """A camera source for pipelines that look (None: the pipeline file's)."""

    async def open(self, cfg: PipelineConfig) -> None:  # noqa: B027 - optional hook
        """Check and take what the run needs before models load (read a file, log in)."""

    @abc.abstractmethod
    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        """The audio output: the pipeline's last stage, and the floor's player."""

    async def attach(self, session: Session) -> None:  # noqa: B027 - optional hook
        """Add this transport's observers and listeners to the run being built (before the
        models load: a peer that cannot be reached fails now)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Models are loaded: open the devices."""

    @abc.abstractmethod
    def frames(self) -> AsyncIterator[Frame]:
        """The input: audio (and text turns, key presses) until it ends or `stop_input`."""

    async def serve(self, session: Session) -> None:
        """Runs beside the pipeline (a broker link, a web server); if it ends, the run ends."""
        await asyncio.Event().wait()

    def stop_input(self) -> None:  # noqa: B027 - optional hook
        """End the input: the pipeline drains (replies under way finish) and the run ends."""

    async def finish(self) -> None:  # noqa: B027 - optional hook
        """The pipeline has drained (say goodbye to the peers)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `open` and `start` took."""

    def inject(self, frame: Frame) -> None:
        """Put a frame into the input between its audio chunks (a text turn)."""
        raise ConfigError(f"the {self.name} transport takes no text turns")

    @property
    def position(self) -> int:
        """Samples of input delivered so far (where an injected turn sits on the timeline)."""
        return 0

    def summary(self) -> dict[str, Any]:
        """What to say about the run when it ends (counts, devices)."""
        return {}

    input_s: float | None = None
    """Seconds of input, when the input has a length (a file)."""


class Controls:
    """What a transport may do to a running assistant: ask, say, mute, set options. The only way
    in from outside: a transport never sets a stage's or the player's fields itself."""

    def __init__(self, stages: list[Stage], player: WavFileSink, floor: Floor, transport: Transport,
                 sample_rate: int) -> None:
        self._stages = {s.name: s for s in stages}
        self._player = player
        self._floor = floor
        self._transport = transport
        self._rate = sample_rate

    # text turns --------------------------------------------------------------------------
    def ask(self, text: str) -> Turn:
        """A question in words: answered as if it had been said."""
        turn = self._turn()
        self._transport.inject(Transcript(turn=turn, text=text.strip()))
        return turn

    def say(self, text: str) -> Turn:
        """An announcement: spoken as it is (no model, no history)."""
        turn = self._turn()
        self._transport.inject(SayText(turn=turn, text=text.strip()))
        return turn

    def _turn(self) -> Turn:
        import time

        pos = self._transport.position
        return Turn(id=self._floor.next_turn_id(), speech_start=pos, speech_end=pos,
                    t_speech_end=time.monotonic(), sample_rate=self._rate)

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
    def actions(self) -> Mapping[str, ActionSpec]:
        """The pipeline's allow-list of device actions (its dialogue stage's)."""
        from omni.stages.dialogue import Dialogue

        d = next((s for s in self._stages.values() if isinstance(s, Dialogue)), None)
        return {a.name: a for a in d.options.actions} if d is not None else {}
