"""Bounded channels between stages, each with a named overflow policy.

A channel holds two lanes. SYSTEM frames go to a priority lane that is read first and never
dropped. DATA and CONTROL frames share the ordered lane, which is bounded: when it is full the
channel's overflow policy decides. CONTROL frames are never dropped by a policy or a flush.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from dataclasses import dataclass

from omni.frames import Frame, Tier

log = logging.getLogger(__name__)


class Overflow(str, enum.Enum):
    """What a full channel does with one more frame."""

    BLOCK = "block"
    """The producer waits (backpressure). Nothing is lost; for audio and text."""
    DROP_OLDEST = "drop_oldest"
    """The oldest queued data frame is dropped (a camera keeps the newest frame)."""
    DROP_NEWEST = "drop_newest"
    """The new data frame is dropped (a flood of commands)."""


@dataclass(frozen=True)
class QueueSpec:
    """Size and overflow policy of a stage's input channel."""

    size: int = 64
    overflow: Overflow = Overflow.BLOCK


class ChannelClosed(Exception):
    """Raised by put() on a closed channel."""


class Channel:
    """A bounded frame queue with a priority lane for system frames."""

    def __init__(self, name: str, spec: QueueSpec = QueueSpec()) -> None:
        if spec.size < 1:
            raise ValueError("a channel holds at least one frame")
        self.name = name
        self.spec = spec
        self._ordered: collections.deque[Frame] = collections.deque()
        self._system: collections.deque[Frame] = collections.deque()
        self._cond = asyncio.Condition()
        self._closed = False
        self.dropped = 0
        """Data frames dropped by the overflow policy."""
        self.flushed = 0
        """Data frames dropped by flush()."""
        self.high_water = 0
        """Largest number of frames seen waiting in the ordered lane."""

    def __len__(self) -> int:
        return len(self._ordered) + len(self._system)

    @property
    def closed(self) -> bool:
        return self._closed

    async def put(self, frame: Frame) -> None:
        """Queue a frame, applying the overflow policy when the ordered lane is full."""
        async with self._cond:
            if self._closed:
                raise ChannelClosed(self.name)
            if frame.tier is Tier.SYSTEM:
                self._system.append(frame)
            else:
                while len(self._ordered) >= self.spec.size:
                    if self.spec.overflow is Overflow.BLOCK or frame.tier is Tier.CONTROL:
                        await self._cond.wait()
                        if self._closed:
                            raise ChannelClosed(self.name)
                        continue
                    if self.spec.overflow is Overflow.DROP_NEWEST:
                        self._note_drop(frame)
                        return
                    victim = self._oldest_data()
                    if victim is None:  # only control frames queued: wait for room
                        await self._cond.wait()
                        continue
                    self._ordered.remove(victim)
                    self._note_drop(victim)
                self._ordered.append(frame)
                self.high_water = max(self.high_water, len(self._ordered))
            self._cond.notify_all()

    async def get(self) -> Frame:
        """Next frame, system frames first. Raises ChannelClosed once closed and empty."""
        async with self._cond:
            while not self._system and not self._ordered:
                if self._closed:
                    raise ChannelClosed(self.name)
                await self._cond.wait()
            frame = self._system.popleft() if self._system else self._ordered.popleft()
            self._cond.notify_all()
            return frame

    def flush(self) -> int:
        """Drop every queued DATA frame (barge-in); system and control frames stay. Returns count."""
        kept = collections.deque(f for f in self._ordered if f.tier is not Tier.DATA)
        n = len(self._ordered) - len(kept)
        self._ordered = kept
        self.flushed += n
        return n

    async def close(self) -> None:
        """No more puts; readers drain what is queued, then get ChannelClosed."""
        async with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.get()
        except ChannelClosed:
            raise StopAsyncIteration from None

    def _oldest_data(self) -> Frame | None:
        return next((f for f in self._ordered if f.tier is Tier.DATA), None)

    def _note_drop(self, frame: Frame) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            log.warning("channel %s full (%d): dropped %s (%d dropped so far, policy %s)",
                        self.name, self.spec.size, type(frame).__name__, self.dropped,
                        self.spec.overflow.value)
