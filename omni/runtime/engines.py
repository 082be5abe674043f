"""The process's engines: each model loaded once, shared by every session that names it.

A stage asks the pool for its engine by a key (its kind and the options the engine is made
from); the first ask loads it on a worker thread of its own, later asks (the same session's
next run, another session, another pipeline naming the same model) get the same copy. Every
call into a shared engine goes through that one worker thread, so the calls of all sessions
are serialised per engine and none runs on the event loop. The pool also holds the process's
CPU priority: the stage nearest the listener of any session goes before the background work
of every session (omni.runtime.cpu).

Engines that keep a stream's state (a VAD's recurrent state, a wake-word detector's feature
window) offer `fork()`: a copy of the state that shares the loaded model; a session forks its
own. The pool is closed by its owner (the process, omni.app.host); sessions never close it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from omni.runtime.blas import limit_blas_threads
from omni.runtime.cpu import CpuPriority
from omni.runtime.tasks import outside_scope
from omni.runtime.threads import Worker

log = logging.getLogger(__name__)

E = TypeVar("E")
T = TypeVar("T")

ProgressFn = Callable[[str, float | None], None]


@dataclass
class Shared(Generic[E]):
    """One loaded engine and the worker thread every call into it runs on."""

    kind: str
    key: Hashable
    engine: E
    worker: Worker | None
    """None: the engine runs its own threads (a chat backend)."""
    load_s: float
    calls: int = 0
    """Calls and streams made into it, by every session."""
    users: set[str] = field(default_factory=set)
    """Names of the stages (of any session) that asked for it."""

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the engine's thread, after the calls queued before it."""
        self.calls += 1
        assert self.worker is not None, f"the {self.kind} engine has no worker: call it directly"
        return await self.worker.call(fn, *args)

    def stream(self, make: Callable[[], Iterator[T]], buffer: int = 32) -> AsyncIterator[T]:
        """Iterate `make()` on the engine's thread (it holds the thread until it ends or is closed)."""
        self.calls += 1
        assert self.worker is not None, f"the {self.kind} engine has no worker: call it directly"
        return self.worker.stream(make, buffer)


def options_key(options: BaseModel | dict[str, Any] | None, drop: frozenset[str] | set[str] = frozenset()) -> str:
    """A stable key of the options an engine is made from (those in `drop` are the stage's own:
    two stages that differ only in them share one engine)."""
    if options is None:
        return "{}"
    data = options.model_dump(mode="json") if isinstance(options, BaseModel) else dict(options)
    return json.dumps({k: v for k, v in data.items() if k not in drop}, sort_keys=True, default=str)


class EnginePool:
    """Engines loaded once per process (see the module's docstring)."""

    def __init__(self, cpu: CpuPriority | None = None, blas_threads: int | None = 1) -> None:
        self.cpu = cpu if cpu is not None else CpuPriority()
        """The process's CPU priority, shared by the stages of every session."""
        if blas_threads is not None:  # numpy's idle BLAS threads spin (omni.runtime.blas)
            limit_blas_threads(blas_threads)
        self._loaded: dict[tuple[str, Hashable], asyncio.Task[Shared[Any]]] = {}
        self._closed = False
        self.loads = 0
        """Engines actually loaded (a second ask for the same key is not a load)."""

    async def get(self, kind: str, key: Hashable, load: Callable[[ProgressFn], Any], progress: ProgressFn,
                  *, user: str = "", nice: int = 0) -> Shared[Any]:
        """The engine `kind` with `key`, loading it with `load(progress)` on a new worker thread
        the first time (an `async def load` runs on the loop instead and gets no worker: the
        engine has threads of its own). Concurrent asks for it wait for the same load; a load
        that failed is tried again by the next ask."""
        if self._closed:
            raise RuntimeError("the engine pool is closed")
        k = (kind, key)
        task = self._loaded.get(k)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            # the load is the pool's, not the asker's: a session closed while it waits does
            # not cancel it for the others (nor leave a half-loaded engine behind)
            with outside_scope():
                task = self._loaded[k] = asyncio.get_running_loop().create_task(
                    self._load(kind, key, load, progress, nice), name=f"load-{kind}")
        try:
            shared = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except BaseException:
            if self._loaded.get(k) is task:
                del self._loaded[k]  # the next ask tries again
            raise
        if user:
            shared.users.add(user)
        return shared

    def discard(self, shared: Shared[Any]) -> None:
        """Forget an engine that was one session's own (a stateful engine that cannot fork);
        its thread ends once its calls are done."""
        for k, task in list(self._loaded.items()):
            if task.done() and not task.cancelled() and task.exception() is None and task.result() is shared:
                del self._loaded[k]
                close = getattr(shared.engine, "close", None)
                if shared.worker is not None:
                    if close is not None:
                        shared.worker.submit(close)
                    shared.worker.shutdown(wait=False)

    async def derive(self, base: Shared[E], role: str, make: Callable[[E], T], progress: ProgressFn,
                     describe: str, *, user: str = "") -> Shared[T]:
        """A second engine made from `base` (a spare copy for another thread), once per process."""
        def load(progress: ProgressFn) -> T:
            progress(describe, None)
            return make(base.engine)

        return await self.get(base.kind + ":" + role, base.key, load, progress, user=user)

    async def _load(self, kind: str, key: Hashable, load: Callable[[ProgressFn], Any], progress: ProgressFn,
                    nice: int) -> Shared[Any]:
        t0 = time.monotonic()
        if asyncio.iscoroutinefunction(load):
            worker, engine = None, await load(progress)  # (the threads it starts are the process's)
        else:
            worker = Worker(f"engine-{kind.replace(':', '-')}", nice=nice)  # the process's thread
            try:
                engine = await worker.call(load, progress)
            except BaseException:
                await asyncio.to_thread(worker.shutdown)  # off the loop: the other sessions go on
                raise
        self.loads += 1
        took = time.monotonic() - t0
        log.info("loaded the %s engine in %.2f s", kind, took, extra={"stage": "engines", "latency_ms": took * 1000})
        return Shared(kind, key, engine, worker, took)

    def engines(self) -> list[Shared[Any]]:
        """The engines loaded so far."""
        return [t.result() for t in self._loaded.values()
                if t.done() and not t.cancelled() and t.exception() is None]

    def summary(self) -> list[dict[str, Any]]:
        return [{"kind": s.kind, "load_s": round(s.load_s, 2), "calls": s.calls, "users": sorted(s.users)}
                for s in self.engines()]

    async def aclose(self) -> None:
        """Release every engine and stop its thread (the process is ending)."""
        self._closed = True
        pending = [t for t in self._loaded.values() if not t.done()]
        if pending:  # loads under way finish first, so that what they load is closed too
            await asyncio.wait(pending)
        for shared in reversed(self.engines()):
            close = getattr(shared.engine, "aclose", None) or getattr(shared.engine, "close", None)
            try:
                if close is not None:
                    res = close() if shared.worker is None else await shared.worker.call(close)
                    if asyncio.iscoroutine(res):
                        await res
            except Exception:
                log.exception("closing the %s engine failed", shared.kind)
            if shared.worker is not None:
                shared.worker.shutdown()
        self._loaded.clear()


def stream_of(engine: Any) -> Any:
    """A stateful engine's stream of its own (`fork()`, sharing the loaded model), else itself."""
    fork = getattr(engine, "fork", None)
    return fork() if callable(fork) else engine


_own = itertools.count(1)


def own_key(key: Hashable) -> Hashable:
    """The key of a copy of an engine that one session keeps to itself (a stateful engine that
    cannot fork): never shared; the session discards it when it closes (EnginePool.discard)."""
    return ("own", key, next(_own))


def is_own(shared: Shared[Any]) -> bool:
    return isinstance(shared.key, tuple) and len(shared.key) == 3 and shared.key[0] == "own"
