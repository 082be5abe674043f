"""On a 2-core machine the stage nearest the listener gets the CPU first.

While the first sentence of a reply is being synthesized, the LLM is usually still generating
the next one, and the two fight over the same cores: the first sound comes later. A stage that
does urgent work holds `CpuPriority.urgent()`; background work calls `gate()` between steps
and waits (bounded) until no urgent work runs. Both ends run in worker threads.

Work for the voice that is not urgent (the LLM reading a prompt or generating) holds
`voice_work()`; work that is for nobody waiting (looking at camera frames) starts only while
`voice_busy` is false.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class CpuPriority:
    def __init__(self, max_wait_s: float = 2.0) -> None:
        self.max_wait_s = max_wait_s
        """Background work never waits longer than this at one step."""
        self._lock = threading.Lock()
        self._quiet = threading.Condition(self._lock)
        """Notified when urgent work ends (settle waits on it, not on a timer)."""
        self._listeners: list[Callable[[], None]] = []
        self._holders = 0
        self._free = threading.Event()
        self._free.set()
        self._released = 0.0
        self.waits = 0
        """How many times background work paused."""
        self._voice = 0

    def watch(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (from whichever thread it happens on) when `voice_busy` may have
        changed: a stage that waits for the voice wakes on it instead of polling."""
        self._listeners.append(listener)

    def unwatch(self, listener: Callable[[], None]) -> None:
        """Stop calling `listener` (its session has closed)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):  # sessions come and go while it runs
            listener()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        with self._lock:
            self._holders += 1
            self._free.clear()
        self._changed()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._free.set()
                    self._released = time.monotonic()
                    self._quiet.notify_all()
            self._changed()

    @contextlib.contextmanager
    def voice_work(self) -> Iterator[None]:
        with self._lock:
            self._voice += 1
        self._changed()
        try:
            yield
        finally:
            with self._lock:
                self._voice -= 1
            self._changed()

    @property
    def voice_busy(self) -> bool:
        """Urgent work or other work for the voice is running."""
        return self._voice > 0 or not self._free.is_set()

    def wait_for_urgent(self) -> None:
        if not self._free.is_set():
            self.waits += 1
            self._free.wait(self.max_wait_s)

    def settle(self, quiet_s: float = 0.3, max_wait_s: float = 3.0) -> None:
        """Block until no urgent work has run for `quiet_s` (at most `max_wait_s`): for background
        work that cannot pause once started (a prompt evaluation) and is not needed right away,
        so that the urgent work about to start (the reply's first sentence) comes first."""
        start = time.monotonic()
        with self._quiet:
            while (now := time.monotonic()) - start < max_wait_s:
                if self._holders == 0:
                    quiet_from = max(start, self._released)
                    if now - quiet_from >= quiet_s:
                        return
                    timeout = quiet_from + quiet_s - now  # until the quiet would be long enough
                else:
                    timeout = max_wait_s - (now - start)  # until urgent work ends (notified)
                self._quiet.wait(min(timeout, max_wait_s - (now - start)))
        self.waits += 1

    def gate(self, items: Iterator[T], after: Callable[[T], bool] | None = None) -> Iterator[T]:
        """Yield from `items`, pausing before each next step while urgent work runs (only after
        the items `after` accepts, when given)."""
        for item in items:
            yield item
            if after is None or after(item):
                self.wait_for_urgent()
