"""The runtime: pipelines wire stages, errors become events, cancellation reaches every task."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from omni.frames import EndOfStream, ErrorEvent, Frame, ReplyDone, Transcript, Turn
from omni.runtime import Pipeline, Processor, QueueSpec, Stage, TaskOwner, Worker, cancel_and_wait
from omni.runtime.metrics import TurnRecorder, summarize

from helpers import run_stage


@dataclass(frozen=True, kw_only=True, eq=False)
class Num(Frame):
    n: int


class Double(Processor):
    handles = (Num,)

    async def process(self, frame: Num) -> AsyncIterator[Frame]:
        if frame.n == 3:
            raise RuntimeError("three is bad")
        yield Num(n=frame.n * 2)


class Slow(Processor):
    """Holds each frame in a worker thread: a stand-in for inference."""

    handles = (Num,)
    input_queue = QueueSpec(size=2)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.worker = Worker("slow")
        self.started = asyncio.Event()

    async def process(self, frame: Num) -> AsyncIterator[Frame]:
        self.started.set()
        await self.worker.call(time.sleep, 0.05)
        yield frame


def wait_until(cond, timeout: float = 5.0) -> None:
    """Block until cond() is true; fail after `timeout` (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def turn(i: int = 1) -> Turn:
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


async def test_pipeline_keeps_order_passes_unknown_frames_and_survives_a_failing_frame():
    seen: list[tuple[str, Frame]] = []

    class Obs:  # is shown each frame once, by the stage that made it
        def on_frame(self, stage: str, frame: Frame) -> None:
            seen.append((stage, frame))

    class Out(Stage):  # what b passes on, made by it or not
        async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
            async for f in inp:
                seen.append(("b", f))
            return
            yield  # pragma: no cover

    async def source() -> AsyncIterator[Frame]:
        for i in range(6):
            yield Num(n=i)
        yield ErrorEvent(stage="src", message="not forwarded")  # events go to observers only
        yield EndOfStream()

    a, b = Double("a"), Double("b")
    await Pipeline([a, b, Out("out")], observers=[Obs()]).run(source())
    out_b = list(dict.fromkeys(f for s, f in seen if s == "b"))
    nums = [f.n for f in out_b if isinstance(f, Num)]
    # frame 3 fails in a; 2*... = 6 fails nowhere; b doubles a's output (n*2*2), except a's 6 -> 12
    assert nums == [0, 4, 8, 16, 20]
    errors = [f for s, f in seen if isinstance(f, ErrorEvent) and s == "a"]
    assert len(errors) == 1 and "three is bad" in errors[0].message
    assert isinstance(out_b[-1], EndOfStream)


async def test_cancelling_a_running_pipeline_stops_every_stage_task():
    slow = Slow("slow")

    async def endless() -> AsyncIterator[Frame]:
        i = 0
        while True:
            yield Num(n=i)
            i += 1

    task = asyncio.create_task(Pipeline([slow, Double("d")]).run(endless()))
    await asyncio.wait_for(slow.started.wait(), 2)
    await cancel_and_wait(task)
    assert task.cancelled()
    # the autouse fixture fails the test if any stage task is still alive
    slow.worker.shutdown()


async def test_bounded_queue_backpressures_the_source():
    slow = Slow("slow")
    produced = 0
    done_three = asyncio.Event()
    out: list[Frame] = []

    class Count(Stage):  # what came out of the slow stage
        async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
            async for f in inp:
                out.append(f)
                if len(out) == 3:
                    done_three.set()
            return
            yield  # pragma: no cover

    async def source() -> AsyncIterator[Frame]:
        nonlocal produced
        for i in range(100):
            produced += 1
            yield Num(n=i)

    task = asyncio.create_task(Pipeline([slow, Count("count")]).run(source()))
    await asyncio.wait_for(done_three.wait(), 10)
    # three frames went through the slow stage; its 2-frame queue held the rest of the source back
    # (three done, one in the stage, two queued, one waiting to be put: at most seven made)
    assert 3 <= produced <= 7, produced
    await cancel_and_wait(task)
    slow.worker.shutdown()


async def test_worker_stream_runs_generator_in_its_thread_and_stops_on_cancel():
    worker = Worker("gen")
    threads: set[str] = set()
    stopped = threading.Event()

    def gen() -> Iterator[int]:
        try:
            for i in range(10_000):
                threads.add(threading.current_thread().name)
                time.sleep(0.005)
                yield i
        finally:
            stopped.set()

    got = []
    flowing = asyncio.Event()

    async def consume() -> None:
        async for x in worker.stream(gen, buffer=2):
            got.append(x)
            if len(got) >= 3:
                flowing.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(flowing.wait(), 10)  # the stream is flowing: now its consumer goes away
    await cancel_and_wait(task)
    assert 0 < len(got) < 10_000
    assert stopped.wait(1), "the generator must be closed when its consumer goes away"
    assert threads and all(t.startswith("gen") for t in threads)
    assert threading.current_thread().name not in threads
    worker.shutdown()


async def test_worker_stream_reraises_the_generator_error():
    worker = Worker("err")

    def gen() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        async for _ in worker.stream(gen):
            pass
    worker.shutdown()


async def test_task_owner_cancels_and_awaits_its_tasks():
    async with TaskOwner("o") as owner:
        t = owner.spawn(asyncio.sleep(60), name="sleeper")
        assert t in owner.tasks
    assert t.cancelled()
    assert not owner.tasks


class Timed(Stage):
    """Reports a scripted time for each transcript and ends the turn."""

    def __init__(self, name: str, ms: float, ends_turn: bool) -> None:
        super().__init__(name)
        self.ms = ms
        self.ends_turn = ends_turn

    async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        async for f in inp:
            if isinstance(f, Transcript):
                self.report(f.turn, self.ms)
                yield f
                if self.ends_turn:
                    yield ReplyDone(turn=f.turn, text="ok")
            else:
                yield f


async def test_budget_overrun_is_an_event_not_a_crash():
    rec = TurnRecorder({"fast": 100.0, "slow": 100.0}, done_stage="slow")
    events = []
    rec.listeners.append(lambda kind, p: events.append((kind, p)))

    async def source() -> AsyncIterator[Frame]:
        yield Transcript(turn=turn(1), text="hello")
        yield EndOfStream()

    await Pipeline([Timed("fast", 20, False), Timed("slow", 250, True)], observers=[rec],
                   reporter=rec.report).run(source())
    assert [(o.stage, o.ms) for o in rec.overruns] == [("slow", 250)]
    (r,) = rec.finished
    line = r.as_dict()
    assert line["stages"]["fast"] == {"ms": 20, "budget_ms": 100.0, "ok": True}
    assert line["stages"]["slow"]["ok"] is False
    assert line["overruns"] == ["slow"]
    assert ("overrun", rec.overruns[0]) in events
    assert summarize(rec.finished)["stages"]["slow"]["hit_rate"] == 0.0


async def test_run_stage_helper_collects_outputs():
    out = await run_stage(Double("d"), [Num(n=1), Num(n=2)])
    assert [f.n for f in out if isinstance(f, Num)] == [2, 4]
    assert isinstance(out[-1], EndOfStream)


class Broken(Processor):
    """Fails on the transcript "first", like an engine that crashed once."""

    handles = (Transcript,)

    async def process(self, frame: Transcript) -> AsyncIterator[Frame]:
        if frame.text == "first":
            raise RuntimeError("engine fell over")
        yield ReplyDone(turn=frame.turn, text="fine")


async def test_a_stage_fault_ends_the_turn_with_an_error_and_the_next_turn_is_served():
    rec = TurnRecorder({}, done_stage="llm")

    async def source() -> AsyncIterator[Frame]:
        yield Transcript(turn=turn(1), text="first")
        yield Transcript(turn=turn(2), text="second")
        yield EndOfStream()

    class End(Processor):
        handles = ()

        async def process(self, frame):  # pragma: no cover - handles nothing
            yield frame

    await Pipeline([Broken("llm"), End("end")], observers=[rec], reporter=rec.report).run(source())
    r, r2 = rec.finished
    assert r.reason == "error"
    assert r.errors == ["llm: RuntimeError: engine fell over"]
    assert len(rec.errors) == 1
    assert (r2.turn.id, r2.reply, r2.errors) == (2, "fine", [])


def test_background_work_pauses_while_urgent_work_runs():
    from omni.runtime.cpu import CpuPriority

    cpu = CpuPriority(max_wait_s=5)
    log: list[str] = []
    release = threading.Event()

    def urgent() -> None:
        with cpu.urgent():
            log.append("urgent start")
            release.wait(2)
            log.append("urgent end")

    t = threading.Thread(target=urgent)
    t.start()
    wait_until(lambda: log)
    consumer = threading.Thread(target=lambda: [log.append(f"token {i}") for i in cpu.gate(iter(range(3)))])
    consumer.start()
    wait_until(lambda: cpu.waits == 1)  # the consumer is waiting for the urgent work
    assert log == ["urgent start", "token 0"], "the first token passes, the next waits"
    release.set()
    t.join()
    consumer.join(2)
    assert log == ["urgent start", "token 0", "urgent end", "token 1", "token 2"]
    assert cpu.waits == 1


def test_settle_waits_for_urgent_work_that_starts_late_and_then_for_quiet():
    """Background work that cannot pause (a prompt evaluation) waits until urgent work has
    come and gone, even when the urgent work starts a little after it asked."""
    from omni.runtime.cpu import CpuPriority

    cpu = CpuPriority()
    log: list[str] = []

    def urgent() -> None:
        time.sleep(0.05)  # TTS picks up the sentence a moment after the dialogue is done
        with cpu.urgent():
            log.append("urgent start")
            time.sleep(0.1)
            log.append("urgent end")

    t = threading.Thread(target=urgent)
    t.start()
    # the urgent work starts 50 ms after settle asks: a 1 s quiet window leaves a loaded
    # machine's thread start a wide margin
    cpu.settle(quiet_s=1.0, max_wait_s=5)
    log.append("background")
    t.join()
    assert log == ["urgent start", "urgent end", "background"]
    t0 = time.monotonic()
    cpu.settle(quiet_s=0.2, max_wait_s=0.1)  # bounded: never waits past max_wait_s
    assert time.monotonic() - t0 < 1.0


async def test_worker_shutdown_does_not_wait_for_an_abandoned_stream():
    """A consumer that is dropped, not closed (a generator closed at an outer yield leaves the
    one it iterates like that), must not keep the worker thread, and so shutdown, waiting."""
    import threading

    from omni.runtime import Worker

    w = Worker("abandoned")
    made = threading.Event()

    def produce():
        for i in range(10_000):
            if i == 3:  # one taken, two in the buffer: this one waits for room, the producer blocks
                made.set()
            yield i

    s = w.stream(produce, buffer=2)
    assert await anext(s) == 0
    assert await asyncio.to_thread(made.wait, 10), "the producer filled its buffer"
    t = threading.Thread(target=w.shutdown)
    t.start()
    t.join(5)
    assert not t.is_alive(), "shutdown hung on a stream nobody reads"
    await s.aclose()


async def test_until_closes_the_whole_chain_when_stopped_while_an_item_is_held():
    import contextlib

    from omni.runtime.floor import until

    closed = []

    async def inner():
        try:
            for i in range(100):
                yield i
                await asyncio.sleep(0)
        finally:
            closed.append("inner")

    async def outer():
        async with contextlib.aclosing(inner()) as g:
            async for x in g:
                yield x

    stop = asyncio.get_running_loop().create_future()
    got = []
    async for x in until(stop, outer()):
        got.append(x)
        if x == 3:
            stop.set_result(None)  # the interruption comes while the consumer holds an item
    assert got == [0, 1, 2, 3] and closed == ["inner"]


def test_a_nice_worker_gives_way_on_a_shared_core_and_its_threads_inherit_it():
    """Vision and camera threads run at niceness 10: when the CPU is short the voice runs first."""
    import hashlib
    import os

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    main_before = niceness()
    nice, plain = Worker("test-nice", nice=10), Worker("test-plain")
    core = min(os.sched_getaffinity(0))
    block = bytes(1 << 20)

    def spin(seconds: float) -> tuple[int, float, int]:
        """Busy on one core (hashlib lets go of the GIL), both workers on the same one."""
        os.sched_setaffinity(threading.get_native_id(), {core})
        child: list[int] = []
        t = threading.Thread(target=lambda: child.append(niceness()))
        t.start()
        t.join()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            hashlib.sha256(block).digest()
        return niceness(), time.thread_time(), child[0]

    async def both() -> list[tuple[int, float, int]]:
        return list(await asyncio.gather(nice.call(spin, 1.5), plain.call(spin, 1.5)))

    try:
        (n_nice, cpu_nice, child_nice), (n_plain, cpu_plain, _) = asyncio.run(both())
    finally:
        nice.shutdown()
        plain.shutdown()
    assert (n_nice, child_nice, n_plain) == (min(19, main_before + 10), min(19, main_before + 10), main_before)
    assert niceness() == main_before  # the caller's thread is untouched
    assert cpu_nice < 0.5 * cpu_plain, (cpu_nice, cpu_plain)  # ~1/10 of the core, by the scheduler's weights


async def test_a_branch_feeds_its_stage_past_the_ones_before_it_and_ends_with_the_input():
    from omni.runtime import Branch

    seen: dict[str, list[Frame]] = {"a": [], "b": []}

    class Look(Stage):
        async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
            async for f in inp:
                seen[self.name].append(f)
                yield f

    shown: list[tuple[str, Frame]] = []

    class Obs:
        def on_frame(self, stage: str, frame: Frame) -> None:
            shown.append((stage, frame))

    closed = asyncio.Event()

    async def camera() -> AsyncIterator[Frame]:
        try:
            for i in range(1000):
                yield Num(n=-i - 1)
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def audio() -> AsyncIterator[Frame]:
        for i in range(5):
            yield Num(n=i)
            await asyncio.sleep(0.005)
        yield EndOfStream()

    await Pipeline([Look("a"), Look("b")], observers=[Obs()]).run(audio(), [Branch("camera", "b", camera())])
    assert all(f.n >= 0 for f in seen["a"] if isinstance(f, Num)), "the camera passes no stage before its own"
    assert any(f.n < 0 for f in seen["b"] if isinstance(f, Num)), "the camera's frames reach their stage"
    assert isinstance(seen["b"][-1], EndOfStream), "the end of the input comes last, after the branch"
    assert closed.is_set(), "the branch was closed when the input ended"
    assert {s for s, f in shown if isinstance(f, Num) and f.n < 0} == {"camera"}


async def test_a_reply_handle_changes_only_through_its_methods():
    from omni.runtime.floor import BargeIn, Floor

    floor = Floor()
    changes: list[bool] = []
    floor.watch(lambda: changes.append(floor.awaiting_reply()))
    s = floor.speech(turn())
    assert floor.awaiting_reply() and changes == [True], "a reply is owed from its turn's end"
    for field in ("heard", "audible_until", "done", "interrupted"):
        with pytest.raises(AttributeError):
            setattr(s, field, None)
    now = time.monotonic()
    s.played(until=now + 2.0)
    assert s.audible(now) and not floor.awaiting_reply() and changes[-1] is False
    s.played(until=now + 1.0)
    assert s.audible_until == now + 2.0, "the audio placed so far only grows"
    assert s.interrupt(BargeIn(onset=0, sample_rate=16000, t=now)) and not s.interrupt()
    s.played(until=now + 5.0, heard="Hello")
    s.played(heard="Hello there")
    assert s.audible_until == now + 2.0 and s.heard == "Hello", "the first report of what was heard stands"
    assert not s.audible(now) and s.is_interrupted

