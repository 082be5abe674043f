"""The player: reply audio on the output timeline, paused for speech over it, resumed after a
backchannel, dropped when the user takes the turn; a sound card's callback reading it; the
generation a barge-in races. (The whole loop in real time: tests/test_turn_taking.py.)"""

import asyncio

import numpy as np

from omni.audio import Timeline
from omni.frames import ReplyAudio, Turn
from omni.runtime.floor import BargeIn, Floor, until

SR = 16000


def _turn(i=1):
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=100.0, sample_rate=SR)


def test_timeline_pause_holds_the_rest_resume_plays_it_stop_drops_it():
    tl = Timeline(SR)
    turn = _turn()
    for i, text in enumerate(["First sentence here.", "Second one is longer than that."]):
        tl.place(ReplyAudio(turn=turn, samples=np.full(SR, 0.5, np.float32), sample_rate=SR,
                            sentence=i, text=text, t=100.0))
    assert tl.cursor == 3 * SR
    # placed from 1 s (the end of the user's speech): [1, 2) and [2, 3)
    tl.pause(int(2.5 * SR))
    assert tl.cursor == int(2.5 * SR) and sum(len(p.audio) for p in tl.held) == int(0.5 * SR)
    assert tl.heard(1) == "First sentence here. Second one is…"
    tl.resume(3 * SR)
    audio = tl.render(0)
    assert audio[int(2.6 * SR):3 * SR].max() == 0 and len(audio) == int(3.5 * SR)
    assert tl.heard(1) == "First sentence here. Second one is longer than that."
    tl.pause(int(3.2 * SR))
    tl.stop()
    assert tl.held == [] and not tl.paused and tl.render(4 * SR)[int(3.3 * SR):].max() == 0


async def test_speech_begun_before_the_first_reply_holds_that_reply_and_taking_the_turn_drops_it():
    """A reader goes on before the run's first reply is ready (a slow first token): the reply
    must not be placed over them. Before, the sink paused only once some reply audio had set its
    clock, so the first reply of a run was spoken over the user (CI, 2026-12-07)."""
    from omni.audio.sink import WavFileSink

    turn = Turn(id=5, speech_start=0, speech_end=int(3.0 * SR), t_speech_end=100.0, sample_rate=SR)
    for took_turn in (True, False):
        sink = WavFileSink("out", None, SR)
        sink.floor.add_player(sink)
        sink.floor.speech(turn)  # the reply is on its way, no audio yet
        assert sink.floor.user_started(BargeIn(onset=int(3.6 * SR), sample_rate=SR, t=100.6))
        chunk = ReplyAudio(turn=turn, samples=np.full(SR, 0.5, np.float32), sample_rate=SR, sentence=0,
                           text="That's an interesting statement.", t=101.2)  # due at 4.2 s
        async for _ in sink.process(chunk):
            pass
        assert sink.timeline.render(int(6 * SR)).max() == 0, "held while the user speaks"
        if took_turn:
            sink.floor.user_took_turn()
            assert sink.timeline.render(int(6 * SR)).max() == 0 and not sink.timeline.paused
        else:  # a backchannel: the reply plays on from then
            sink.floor.user_backchannel(100.9)
            audio = sink.timeline.render(int(6 * SR))
            assert audio[int(3.9 * SR):int(4.9 * SR)].min() == 0.5 and audio[: int(3.9 * SR)].max() == 0


class _SoundCard:
    """A Speaker's callback driven as a sound card drives it, 20 ms a call, on a clock of the
    test's own (patched into the sink and the device): each call reads `latency_s` ahead."""

    def __init__(self, monkeypatch, speaker_of):
        import time
        import types

        from omni.audio import device, sink

        self.t = time.monotonic()
        clock = types.SimpleNamespace(monotonic=lambda: self.t, perf_counter=time.perf_counter)
        monkeypatch.setattr(sink, "time", clock)
        monkeypatch.setattr(device, "time", clock)
        monkeypatch.setattr(device, "pick_device", lambda spec, kind: {"rate": SR, "index": 0, "name": "test"})
        self.ref = self.t - 1.0  # input sample 0
        self.speaker = speaker_of(lambda: self.ref)
        self.status = types.SimpleNamespace(output_underflow=False)
        self.out = []

    def run(self, seconds):
        for _ in range(round(seconds / 0.02)):
            self.t += 0.02
            buf = np.zeros((320, 1), np.float32)
            self.speaker._callback(buf, 320, None, self.status)
            self.out.append(buf[:, 0])

    def played(self):
        out = np.concatenate(self.out)
        return out[out != 0]

    def turn(self, ended_s_ago):
        at = self.t - ended_s_ago
        return Turn(id=1, speech_start=0, speech_end=round((at - self.ref) * SR), t_speech_end=at, sample_rate=SR)


def _speaker(clock):
    from omni.audio.device import Speaker

    spk = Speaker("speaker", None, clock=clock)
    spk.floor.add_player(spk)
    return spk


async def test_a_sound_card_plays_every_sample_of_a_reply_once_after_a_cough_too(monkeypatch):
    """A sound card reads `latency_s` ahead of now. A chunk placed at "now" lost its first 50-70
    ms; audio the card had read was held again at a pause and played twice; and a reply held for a
    cough resumed from the cough's end, already past, so its next part was never heard."""
    card = _SoundCard(monkeypatch, _speaker)
    spk = card.speaker
    card.run(0.2)
    reply = np.linspace(0.1, 0.9, SR, dtype=np.float32)  # every sample told apart
    chunk = ReplyAudio(turn=card.turn(0.4), samples=reply, sample_rate=SR, sentence=0,
                       text="One second of reply.", t=card.t)
    async for _ in spk.process(chunk):
        pass
    card.run(0.3)
    assert len(card.played()) >= round(0.25 * SR), "the reply is playing"
    assert spk.floor.user_started(BargeIn(onset=round((card.t - card.ref) * SR), sample_rate=SR, t=card.t))
    card.run(0.3)
    spk.floor.user_backchannel(card.t - 0.2)  # the cough ended 200 ms before the VAD said so
    card.run(1.0)
    played = card.played()
    assert len(played) == SR and np.array_equal(played, reply), "every sample of the reply, once, in order"


async def test_a_sound_card_forgets_only_what_it_has_played(monkeypatch):
    """With no recording, a speaker keeps `keep_s` of the past; a reply placed far ahead of what
    is playing (TTS runs 20 times faster than speech) is not that past."""
    card = _SoundCard(monkeypatch, _speaker)
    spk = card.speaker
    spk.keep_s = 0.5
    card.run(0.2)
    turn = card.turn(0.4)
    parts = [np.linspace(0.1 + i / 5, 0.2 + i / 5, SR // 2, dtype=np.float32) for i in range(4)]
    for i, part in enumerate(parts):  # two seconds of reply placed at once
        async for _ in spk.process(ReplyAudio(turn=turn, samples=part, sample_rate=SR, sentence=i,
                                              text=f"Sentence {i}.", t=card.t)):
            pass
    card.run(2.5)
    assert np.array_equal(card.played(), np.concatenate(parts))


async def test_a_chime_for_a_word_heard_a_moment_ago_is_played_whole(monkeypatch):
    """The wake word's chime is placed at the input sample where the word was heard, which the
    sound card has read past by the time it is detected."""
    from omni.frames import Cue

    card = _SoundCard(monkeypatch, _speaker)
    card.run(0.5)
    chime = np.linspace(0.2, 0.8, 2400, dtype=np.float32)
    heard_at = round((card.t - 0.3 - card.ref) * SR)  # the word ended 300 ms ago
    async for _ in card.speaker.process(Cue(samples=chime, sample_rate=SR, at=heard_at)):
        pass
    card.run(0.5)
    assert np.array_equal(card.played(), chime)


async def test_an_interruption_cancels_the_generation_it_races():
    floor = Floor()
    turn = _turn()
    speech = floor.speech(turn)
    closed = []

    async def tokens():
        try:
            for i in range(100):
                yield i
                await asyncio.sleep(0.01)
        finally:
            closed.append(True)

    got = []
    async def interrupt_soon():
        await asyncio.sleep(0.05)
        assert floor.user_started(BargeIn(onset=0, sample_rate=SR, t=0.0)), "a reply on its way is live"
        floor.user_took_turn()

    task = asyncio.create_task(interrupt_soon())
    async for i in until(speech.interrupted, tokens()):
        got.append(i)
    await task
    assert speech.is_interrupted and floor.interrupted(turn) and closed == [True]
    assert 0 < len(got) < 20


