"""Inference never runs on the event loop: each engine gets a worker thread.

`Worker.call` runs a blocking function in the engine's own thread; `Worker.stream` consumes a
blocking generator inside that thread and hands its items to the loop through a bounded
buffer. Cancelling the consumer stops the generator at its next item.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

_DONE = object()


class Worker:
    """A single thread owned by one engine (models are rarely thread-safe)."""

    def __init__(self, name: str, nice: int = 0) -> None:
        """`nice` > 0: the thread gives way to the others when the CPU is short (`lower_priority`)."""
        self.name = name
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=lower_priority if nice > 0 else None,
            initargs=(nice,) if nice > 0 else ())
        self._scoped = False
        self._streams: set[threading.Event] = set()
        """Stop flags of the streams running now (shutdown sets them: a consumer that was
        abandoned, not closed, must not leave the thread waiting for room forever)."""

    def _claim(self) -> None:
        """The session its thread starts in owns it (its leak check looks for it); a thread
        started outside any session (an engine of the process) is the process's."""
        if not self._scoped:
            from omni.runtime.tasks import current_scope

            self._scoped = True
            if (scope := current_scope()) is not None:
                scope.workers.add(self)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        self._claim()
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def stream(self, make: Callable[[], Iterator[T]], buffer: int = 32) -> AsyncIterator[T]:
        """Iterate `make()` in the worker thread; yields its items on the loop, in order."""
        self._claim()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        room = threading.Semaphore(buffer)
        stop = threading.Event()
        self._streams.add(stop)

        def produce() -> None:
            try:
                it = make()
                try:
                    for item in it:
                        while not room.acquire(timeout=0.1):
                            if stop.is_set():
                                return
                        if stop.is_set():
                            return
                        loop.call_soon_threadsafe(queue.put_nowait, item)
                finally:
                    close = getattr(it, "close", None)
                    if close is not None:
                        close()
            except BaseException as e:  # handed to the consumer
                if not stop.is_set():
                    loop.call_soon_threadsafe(queue.put_nowait, _Raised(e))
                return
            if not stop.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        fut = loop.run_in_executor(self._pool, produce)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, _Raised):
                    raise item.error
                room.release()
                yield item
        finally:
            stop.set()
            self._streams.discard(stop)
            room.release()
            if not fut.done():
                # wait for the thread to leave the generator, so the engine is free again
                await asyncio.shield(fut)

    @property
    def alive(self) -> bool:
        """Its thread is running (not shut down, or still finishing)."""
        return any(t.is_alive() for t in getattr(self._pool, "_threads", ()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the thread after what is queued, without waiting for it."""
        self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        for stop in list(self._streams):
            stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=wait)


def lower_priority(nice: int) -> bool:
    """Raise the calling thread's niceness by `nice` (Linux: niceness is per thread, and threads
    it starts inherit it). When the CPU is short, the scheduler then runs the others first: a
    nice-10 thread gets ~1/10 of a core's time against a busy nice-0 one. A process may raise its
    niceness, not lower it back, so call it only in a thread that does nothing else. Returns
    whether it worked (elsewhere than Linux, or refused, the thread stays as it was)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        return True
    except OSError as e:
        log.debug("could not lower the priority of thread %s: %s", threading.current_thread().name, e)
        return False


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error
