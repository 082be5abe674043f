"""Shared fixtures: the leaked-task check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Every task a test starts must be finished (cancelled and awaited) when it ends."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before
              if t is not asyncio.current_task() and not t.done()]
    # the loop closes async generators that the garbage collector found unclosed in a task of
    # their own (openai/httpx leave four per streamed response); give those a moment to end
    closing = [t for t in leaked if type(t.get_coro()).__name__ == "async_generator_athrow"]
    if closing:
        await asyncio.wait(closing, timeout=1.0)
        leaked = [t for t in leaked if not t.done()]
    for t in leaked:
        t.cancel()
    assert not leaked, f"leaked tasks: {[t.get_name() for t in leaked]}"


