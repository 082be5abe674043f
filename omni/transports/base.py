"""Transports: how people reach the assistant. Two kinds, one file each:

- a `Transport` is one conversation's input and output (files, live devices, the MQTT node, a
  feed pushed by a connection): the composition root (omni.app.session) builds a session on it;
- a `Server` serves many conversations at once (a browser page, the Realtime API, Wyoming, a
  chat window): it gets a `SessionFactory` (open a session, make a standalone call) and the
  process's engines, never stages or a pipeline's internals.

See docs/extending.md.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from omni.audio.sink import PlaybackEvents, WavFileSink
from omni.errors import ConfigError
from omni.frames import Frame, Turn
from omni.runtime import Pipeline
from omni.runtime.controls import Controls
from omni.runtime.metrics import TurnRecorder
from omni.runtime.stage import Stage

if TYPE_CHECKING:
    import numpy as np

    from omni.config import PipelineConfig
    from omni.runtime.engines import EnginePool
    from omni.transports.outputs import AudioOutput, TextOutput


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
    camera: Any = None
    """A camera source for pipelines that look: a source's name (str), a Camera (one fed from
    outside: omni.vision.camera.PushedCamera), or None (the pipeline file's)."""
    audio_out = True
    """Replies are spoken. False: text only (the session has no sentence chunker, no TTS, and
    its `player` is a omni.transports.outputs.TextSink): a turn ends when its text is complete."""

    async def open(self, cfg: PipelineConfig) -> None:  # noqa: B027 - optional hook
        """Check and take what the run needs before models load (read a file, log in)."""

    @abc.abstractmethod
    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        """The output: the pipeline's last stage, and the floor's player (a speaker, a file, a
        stream; a TextSink when `audio_out` is False)."""

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

    def listen(self, on: bool) -> None:
        """Hear the input, or silence in its place (the same timeline)."""
        raise ConfigError(f"the {self.name} transport cannot stop listening")

    @property
    def listening(self) -> bool:
        return True

    def summary(self) -> dict[str, Any]:
        """What to say about the run when it ends (counts, devices)."""
        return {}

    input_s: float | None = None
    """Seconds of input, when the input has a length (a file)."""


@dataclass
class Session:
    """A run being built or running, as a transport sees it (made by omni.app.session.run)."""

    cfg: PipelineConfig
    stages: list[Stage]
    player: WavFileSink
    pipeline: Pipeline
    recorder: TurnRecorder
    view: Any
    """The run's omni.app.view.ConsoleView (its `console`, `quiet`, `live`)."""
    controls: Controls
    stop: asyncio.Event
    """Set it to end the run (the input stops, the pipeline drains)."""
    engines: Any = None
    """The process's engines (omni.runtime.engines.EnginePool): for a standalone call beside the
    session (omni.app.calls)."""


class Conversation(Protocol):
    """A session opened from a SessionFactory, as a Server drives it (omni.app.host.Conversation)."""

    @property
    def controls(self) -> Controls: ...

    async def push(self, audio: np.ndarray, sample_rate: int) -> None:
        """The user's audio, any rate, in order (waits while the session is behind)."""

    def ask(self, text: str) -> Turn:
        """A text turn, answered as if it had been said."""

    async def reply(self, turn: Turn | int, timeout: float | None = 120.0) -> str:
        """What the user heard of that turn's reply, once it has ended."""

    async def close(self, cancel: bool = True) -> Any:
        """End the session (a reply under way is cancelled unless `cancel` is False)."""


class SessionFactory(abc.ABC):
    """What a Server gets (omni.app.host.Sessions makes it): sessions of one pipeline on the
    process's engines, and standalone calls on the same engines."""

    cfg: PipelineConfig
    engines: EnginePool

    @abc.abstractmethod
    async def open(self, *, audio_out: bool = True, realtime: bool = True, text: TextOutput | None = None,
                   audio: AudioOutput | None = None, out_rate: int = 24000,
                   cfg: PipelineConfig | None = None, observers: Sequence[Any] = (),
                   camera: Any = None) -> Conversation:
        """A new conversation, fed from outside (push audio, ask, controls); it loads nothing
        (`cfg`: a variant of `self.cfg` for this session, on the same engines; `observers` see
        each of its frames). Close it with `close()`."""

    @abc.abstractmethod
    def session(self, **kw: Any) -> Any:
        """`open(**kw)` as an async context manager that closes it on the way out."""

    def open_now(self) -> int:
        """Conversations of this factory open now."""
        return 0

    @property
    @abc.abstractmethod
    def calls(self) -> Any:
        """Transcribe, speak, answer, VAD, wake word (omni.app.calls.Calls): no session, the
        same engines and budgets."""


class Server(abc.ABC):
    """Serves many conversations: a connection opens a session from the factory, pushes its
    audio and text in, and sends its outputs back. `serve` runs until cancelled (the process
    stops it) or until it returns (its work is done)."""

    name = "server"

    @abc.abstractmethod
    async def serve(self, sessions: SessionFactory) -> None:
        """Accept connections (or do the work) with `sessions`."""
