import asyncio
from dataclasses import dataclass

import pytest

from omni.frames import EndOfStream, ErrorEvent, Frame
from omni.runtime import Channel, ChannelClosed, Overflow, QueueSpec


@dataclass(frozen=True, kw_only=True, eq=False)
class Data(Frame):
    n: int


def sys_frame(msg: str = "x") -> ErrorEvent:
    return ErrorEvent(stage="t", message=msg)


async def drain(ch: Channel) -> list[Frame]:
    out = []
    while len(ch):
        out.append(await ch.get())
    return out


async def test_block_applies_backpressure_and_loses_nothing():
    ch = Channel("c", QueueSpec(size=2, overflow=Overflow.BLOCK))
    await ch.put(Data(n=0))
    await ch.put(Data(n=1))
    blocked = asyncio.create_task(ch.put(Data(n=2)))
    await asyncio.sleep(0.01)
    assert not blocked.done(), "a full BLOCK channel must make the producer wait"
    assert (await ch.get()).n == 0
    await asyncio.wait_for(blocked, 1)
    assert [f.n for f in await drain(ch)] == [1, 2]
    assert ch.dropped == 0


async def test_drop_oldest_keeps_newest():
    ch = Channel("cam", QueueSpec(size=2, overflow=Overflow.DROP_OLDEST))
    for i in range(5):
        await ch.put(Data(n=i))
    assert [f.n for f in await drain(ch)] == [3, 4]
    assert ch.dropped == 3


async def test_drop_newest_keeps_oldest():
    ch = Channel("cmd", QueueSpec(size=2, overflow=Overflow.DROP_NEWEST))
    for i in range(5):
        await ch.put(Data(n=i))
    assert [f.n for f in await drain(ch)] == [0, 1]
    assert ch.dropped == 3


async def test_system_frames_skip_the_queue_and_are_never_dropped():
    ch = Channel("c", QueueSpec(size=1, overflow=Overflow.DROP_NEWEST))
    await ch.put(Data(n=0))
    await ch.put(sys_frame("a"))
    await ch.put(sys_frame("b"))
    got = await drain(ch)
    assert [type(f).__name__ for f in got] == ["ErrorEvent", "ErrorEvent", "Data"]
    assert [f.message for f in got[:2]] == ["a", "b"]


async def test_control_frames_are_not_dropped_by_policy():
    ch = Channel("c", QueueSpec(size=1, overflow=Overflow.DROP_OLDEST))
    await ch.put(EndOfStream())
    blocked = asyncio.create_task(ch.put(EndOfStream()))
    await asyncio.sleep(0.01)
    assert not blocked.done(), "a control frame waits for room instead of evicting one"
    await ch.get()
    await asyncio.wait_for(blocked, 1)
    assert ch.dropped == 0


async def test_flush_drops_data_keeps_control_and_system_in_order():
    ch = Channel("c", QueueSpec(size=10))
    await ch.put(Data(n=0))
    await ch.put(EndOfStream())
    await ch.put(Data(n=1))
    await ch.put(sys_frame())
    assert ch.flush() == 2
    got = await drain(ch)
    assert [type(f).__name__ for f in got] == ["ErrorEvent", "EndOfStream"]
    assert ch.flushed == 2


async def test_close_lets_readers_drain_then_stops():
    ch = Channel("c", QueueSpec(size=4))
    await ch.put(Data(n=7))
    await ch.close()
    assert [f.n async for f in ch] == [7]
    with pytest.raises(ChannelClosed):
        await ch.put(Data(n=8))


async def test_close_wakes_a_blocked_producer():
    ch = Channel("c", QueueSpec(size=1))
    await ch.put(Data(n=0))
    blocked = asyncio.create_task(ch.put(Data(n=1)))
    await asyncio.sleep(0.01)
    await ch.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(blocked, 1)
