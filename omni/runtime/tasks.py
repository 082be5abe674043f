"""Task ownership: every task has an owner that cancels and awaits it; every session knows its own."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks and wait until each has finished; never raises their CancelledError."""
    live = [t for t in tasks if t is not None and not t.done()]
    for t in live:
        t.cancel()
    for t in live:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


class TaskOwner:
    """Owns background tasks; `aclose()` (or leaving `async with`) cancels and awaits them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name or 'task'}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    async def aclose(self) -> None:
        await cancel_and_wait(*self._tasks)

    async def __aenter__(self) -> TaskOwner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("omni_scope", default=None)


class Scope:
    """What one session started: its tasks (every task created while it runs, and by those,
    is tagged with it) and its worker threads. Several sessions share a loop; the leak check
    of each looks only at its own (`leftovers`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self.workers: weakref.WeakSet[Any] = weakref.WeakSet()

    @contextlib.contextmanager
    def entered(self) -> Iterator[Scope]:
        """Tasks and workers made inside (in this task, and in the tasks it starts) are this scope's."""
        _install_tagger(asyncio.get_running_loop())
        token = _SCOPE.set(self)
        try:
            yield self
        finally:
            _SCOPE.reset(token)

    def leftovers(self) -> list[str]:
        """Its tasks still running and its worker threads still alive, by name."""
        me = asyncio.current_task()
        names = sorted(t.get_name() + ":" + getattr(t.get_coro(), "__qualname__", "?") for t in list(self.tasks)
                       if t is not me and not t.done() and type(t.get_coro()).__name__ != "async_generator_athrow")
        names += sorted(f"thread of {w.name}" for w in list(self.workers) if w.alive)
        return names


@contextlib.contextmanager
def outside_scope() -> Iterator[None]:
    """What is made inside belongs to the process, not to the session that happens to be
    running (an engine loaded on a session's first use)."""
    token = _SCOPE.set(None)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> Scope | None:
    """The session the caller runs in (None: outside any)."""
    return _SCOPE.get()


def _install_tagger(loop: asyncio.AbstractEventLoop) -> None:
    prev = loop.get_task_factory()
    if getattr(prev, "omni_scopes", False):
        return

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        task = prev(loop, coro, **kw) if prev is not None else asyncio.Task(coro, loop=loop, **kw)
        scope = _SCOPE.get()
        if scope is not None:
            scope.tasks.add(task)
        return task  # type: ignore[return-value]

    factory.omni_scopes = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)  # type: ignore[arg-type]
