"""A stage acting without a frame: on its own work's end (`Processor.wake_on`), and a fault
there reported as a frame's would be. (Acting at a time of its own, `wake_at`: the look stage's
tests.)"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from omni.frames import Frame
from omni.runtime import Processor


@dataclass(frozen=True, kw_only=True, eq=False)
class Num(Frame):
    n: int


class Background(Processor):
    """Starts work of its own on each frame and gives its result when that is done."""

    handles = (Num,)

    def __init__(self, name: str, wake: bool) -> None:
        super().__init__(name)
        self.wake = wake
        self.job: asyncio.Future[int] | None = None

    async def process(self, frame: Num) -> AsyncIterator[Frame]:
        async def work() -> int:
            await asyncio.sleep(0.02)
            return frame.n + 100

        self.job = asyncio.ensure_future(work())
        return
        yield  # pragma: no cover

    def wake_on(self):
        return self.job if self.wake else None

    async def tick(self) -> AsyncIterator[Frame]:
        job, self.job = self.job, None
        if job is not None:
            yield Num(n=job.result())


async def test_a_stage_gives_its_own_works_result_when_it_is_done_not_with_the_next_frame():
    async def frames() -> AsyncIterator[Frame]:
        yield Num(n=1)
        await asyncio.sleep(3600)  # no next frame: the VAD waiting for its end-of-turn model

    for wake, expect in ((True, 101), (False, None)):
        stage = Background("bg", wake)
        out = stage.run(frames())
        try:
            got = await asyncio.wait_for(anext(out), 1.0)
        except TimeoutError:
            got = None
        finally:
            await out.aclose()
        assert (got.n if got is not None else None) == expect, wake


async def test_a_fault_of_a_stages_own_work_is_an_event_and_the_stage_goes_on():
    class Faulty(Background):
        async def tick(self) -> AsyncIterator[Frame]:
            job, self.job = self.job, None
            if job is not None and job.result() == 101:
                raise RuntimeError("decode fell over")
            yield Num(n=job.result() if job is not None else 0)

    async def frames() -> AsyncIterator[Frame]:
        yield Num(n=1)
        await asyncio.sleep(0.1)
        yield Num(n=2)
        await asyncio.sleep(0.1)

    out = [f async for f in Faulty("bg", True).run(frames())]
    assert [type(f).__name__ for f in out] == ["ErrorEvent", "Num"] and out[1].n == 102, out
    assert "decode fell over" in out[0].message
