"""Who has the floor: each assistant reply is a handle the user can interrupt.

The dialogue stage opens a `Speech` for every turn it answers. The audio output (a `Player`:
the file timeline, a sound card) says how long that speech stays audible. When the VAD hears
the user start talking over it, `Floor.user_started` pauses every player at once (that is the
barge-in latency a user feels). If the speech turns out to be a backchannel ("mhm", shorter than
the pipeline's `backchannel_ms`) the players resume where they stopped; otherwise
`Floor.user_took_turn` resolves each speech's `interrupted` future. Cancellation does the rest:
the dialogue's generation awaits that future and is cancelled, every stage drops the DATA frames
of an interrupted turn, and the player reports how much of the reply was actually heard, which
is all the conversation history keeps.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from omni.frames import Turn

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class BargeIn:
    """The user started talking while the assistant was audible."""

    onset: int
    """Input-timeline sample where the VAD placed the start of the user's speech."""
    sample_rate: int
    t: float
    """Monotonic time the VAD decided it was speech."""


class Player(Protocol):
    """An audio output: it can pause, resume and drop what it still has to play, and says what it
    plays (the far end an echo canceller subtracts). It reports each reply's playout through
    `Speech.played`."""

    def pause(self, barge: BargeIn) -> None: ...

    def resume(self, t: float) -> None: ...

    def stop(self, barge: BargeIn) -> None: ...

    def played(self, start: int, n: int, rate: int) -> Any:
        """The audio it plays over input samples [start, start + n) at `rate` (float32 array)."""
        ...


class Speech:
    """One assistant reply, from its first token to its last audible sample.

    Its state changes only through its methods: the floor interrupts it (`interrupt`), the
    player reports its playout (`played`); everything else reads it or awaits `interrupted`.
    """

    def __init__(self, turn: Turn, on_change: Callable[[], None] | None = None) -> None:
        self.turn = turn
        self._on_change = on_change
        self._interrupted: asyncio.Future[BargeIn] = asyncio.get_running_loop().create_future()
        self._audible_until = 0.0
        self._heard: str | None = None
        self._done = False

    @property
    def interrupted(self) -> asyncio.Future[BargeIn]:
        """Resolves when the user takes the turn over this reply (await it; never set it)."""
        return self._interrupted

    @property
    def is_interrupted(self) -> bool:
        return self._interrupted.done()

    def interrupt(self, barge: BargeIn | None = None) -> bool:
        """The user took the turn over this reply; False if it already was interrupted."""
        if self._interrupted.done():
            return False
        self._interrupted.set_result(barge)  # type: ignore[arg-type]
        self._notify()
        return True

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def played(self, *, until: float | None = None, heard: str | None = None, done: bool = False) -> None:
        """The player's report: the audio placed so far ends at monotonic time `until`; the user
        heard `heard` of it (known after an interruption; first report wins); it is `done`
        (played to its end, or dropped)."""
        was = (self._audible_until > 0.0, self._done)
        if until is not None and not self._done and not self.is_interrupted:
            self._audible_until = max(self._audible_until, until)
        if heard is not None and self._heard is None:
            self._heard = heard
        if done:
            self._done = True
        if (self._audible_until > 0.0, self._done) != was:
            self._notify()

    @property
    def audible_until(self) -> float:
        """Monotonic time at which the audio placed so far ends (0: none placed yet)."""
        return self._audible_until

    @property
    def heard(self) -> str | None:
        """What the user actually heard, once the player knows (after an interruption)."""
        return self._heard

    @property
    def done(self) -> bool:
        """The player has played all of it (or dropped it)."""
        return self._done

    def audible(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return not self.is_interrupted and self._audible_until > now


class Floor:
    """Shared by the stages of one pipeline (in the run's context, omni.runtime.context)."""

    def __init__(self, enabled: bool = True, keep: int = 16) -> None:
        self.enabled = enabled
        """False for runs where time means nothing (a file fed as fast as possible)."""
        self._players: list[Player] = []
        self._listeners: list[Callable[[], None]] = []
        self._speeches: collections.OrderedDict[int, Speech] = collections.OrderedDict()
        self._keep = keep
        self.paused: BargeIn | None = None
        """The barge-in that paused the players and is not yet decided."""
        self.interruptions = 0
        self.backchannels = 0
        self._turn_ids = itertools.count(1)
        self._pause_words: collections.OrderedDict[int, tuple[int, str]] = collections.OrderedDict()
        self._sight: set[int] = set()

    def heard_at_pause(self, turn: Turn, text: str) -> None:
        """The recognizer's words for the speech before a pause that may end `turn` (written by
        the recognizer only; the VAD reads them to decide whether the turn ended)."""
        self._pause_words[turn.id] = (turn.speech_end, text)
        while len(self._pause_words) > self._keep:
            self._pause_words.popitem(last=False)

    def words_at_pause(self, turn: Turn) -> str | None:
        """What `heard_at_pause` said for this pause of `turn` (the speech up to its
        `speech_end`), None while its decode is not done: the words of an earlier pause the user
        went on from say nothing about this one."""
        end, text = self._pause_words.get(turn.id, (None, None))
        return text if end == turn.speech_end else None

    def wait_for_sight(self, turn_id: int, waiting: bool) -> None:
        """Turn `turn_id`'s answer waits for a current picture of the view (written by the look
        stage only; the scene stage reads `sight_wanted` and stops giving way to the voice,
        which is waiting on it)."""
        if waiting == (turn_id in self._sight):
            return
        if waiting:
            self._sight.add(turn_id)
        else:
            self._sight.discard(turn_id)
        self._changed()

    @property
    def sight_wanted(self) -> bool:
        """A reply waits for the camera's next scene (`wait_for_sight`)."""
        return bool(self._sight)

    def watch(self, listener: Callable[[], None]) -> None:
        """Call `listener()` when a reply is opened, becomes audible, ends or is interrupted
        (on the event loop's thread): a stage that waits for the voice wakes on it."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def awaiting_reply(self, within_s: float = 30.0) -> bool:
        """A reply is owed (its turn ended less than `within_s` ago) and none of it is audible
        yet, nor has it ended."""
        now = time.monotonic()
        return any(not s.done and not s.is_interrupted and s.audible_until == 0.0
                   and now - s.turn.t_speech_end < within_s for s in self._speeches.values())

    def add_player(self, player: Player) -> None:
        """An audio output of this run (the composition root adds the transport's)."""
        self._players.append(player)

    @property
    def players(self) -> tuple[Player, ...]:
        return tuple(self._players)

    def next_turn_id(self) -> int:
        """A new turn number (turns come from the VAD and from text: one count for both)."""
        return next(self._turn_ids)

    def speech(self, turn: Turn) -> Speech:
        """The handle of the reply to `turn` (made on first use)."""
        s = self._speeches.get(turn.id)
        if s is None:
            s = self._speeches[turn.id] = Speech(turn, self._changed)
            while len(self._speeches) > self._keep:
                self._speeches.popitem(last=False)
            self._changed()
        return s

    def get(self, turn: Turn | None) -> Speech | None:
        return None if turn is None else self._speeches.get(turn.id)

    def interrupted(self, turn: Turn | None) -> bool:
        s = self.get(turn)
        return s is not None and s.is_interrupted

    def speeches(self) -> list[Speech]:
        return list(self._speeches.values())

    def assistant_audible(self, now: float | None = None) -> bool:
        return any(s.audible(now) for s in self._speeches.values())

    def _live(self) -> list[Speech]:
        """Replies the user could be talking over: audible now, or still being produced."""
        now = time.monotonic()
        return [s for s in self._speeches.values()
                if not s.is_interrupted and (s.audible(now) or not s.done)]

    def user_started(self, barge: BargeIn) -> bool:
        """The VAD heard speech begin. If a reply is audible or on its way, pauses the players
        and returns True (then the VAD owes a `user_took_turn` or a `user_backchannel`)."""
        if not self.enabled or not self._live():
            return False
        if self.paused is not None:
            return True  # already paused for earlier speech: this one joins the pending decision
        self.paused = barge
        for p in self._players:
            p.pause(barge)
        log.info("user speaks over the assistant: audio paused", extra={"stage": "floor"})
        return True

    def user_backchannel(self, t: float) -> None:
        """The speech that paused the players was too short to take the turn: play on."""
        if self.paused is None:
            return
        self.paused = None
        self.backchannels += 1
        for p in self._players:
            p.resume(t)
        log.info("backchannel: the assistant goes on", extra={"stage": "floor"})

    def cancel(self, barge: BargeIn) -> list[Speech]:
        """Stop every reply now, audible or still being made (a client's cancel, a stop key):
        as if the user took the turn at `barge`, whether or not the floor follows barge-in.
        Returns the replies stopped; each one's `heard` is what was heard of it."""
        live = self._live()
        if self.paused is None:  # cut the audio placed ahead of now, as a barge-in does
            for p in self._players:
                p.pause(barge)
        self.paused = None
        for s in live:
            s.interrupt(barge)
        for p in self._players:
            p.stop(barge)
        if live:
            log.info("cancelled: turn(s) %s stopped", [s.turn.id for s in live], extra={"stage": "floor"})
        return live

    def user_took_turn(self, barge: BargeIn | None = None, keep: Turn | None = None) -> int:
        """The user is taking the turn: every live reply (but `keep`'s, the user's new turn) is
        interrupted. Returns how many."""
        barge = barge or self.paused
        self.paused = None
        if barge is None:
            return 0
        live = [s for s in self._live() if keep is None or s.turn.id != keep.id]
        for s in live:
            s.interrupt(barge)
        for p in self._players:
            p.stop(barge)
        if live:
            self.interruptions += 1
            log.info("barge-in: turn(s) %s interrupted", [s.turn.id for s in live],
                     extra={"stage": "floor"})
        return len(live)




async def until(stop: asyncio.Future[object], agen: AsyncIterator[T]) -> AsyncIterator[T]:
    """Yield from `agen` until `stop` resolves; then cancel the item it is waiting for and
    close it (the generator's finally blocks run, its worker threads are told to stop)."""
    it = aiter(agen)
    nxt: asyncio.Future[T] | None = None
    try:
        while not stop.done():
            nxt = asyncio.ensure_future(anext(it))
            await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                try:
                    await nxt
                except (asyncio.CancelledError, StopAsyncIteration):
                    pass
                return
            try:
                item = nxt.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if nxt is not None and not nxt.done():  # we were cancelled while waiting for it
            nxt.cancel()
            await asyncio.wait({nxt})
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
