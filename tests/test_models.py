"""Each stage on the real bundled models and real audio."""

import time

import numpy as np
import pytest
from helpers import CONVERSATION, conversation_script, rms, run_stage, transcribe, words

from omni.audio import read_audio
from omni.frames import (InputAudio, ReplyAudio, ReplyDone, ReplySentence, ReplyToken,
                         SpeechStarted, Transcript, Turn, Utterance)
from omni.stages.dialogue import Dialogue
from omni.stages.stt import WhisperOptions, WhisperSTT
from omni.stages.tts import PiperTTS
from omni.stages.vad import SileroVAD, SileroVADOptions

pytestmark = pytest.mark.slow


def noop(desc: str, frac: float | None) -> None:
    pass


def chunks(x: np.ndarray, n: int = 512) -> list[InputAudio]:
    return [InputAudio(samples=x[i:i + n], sample_rate=16000, start=i) for i in range(0, len(x), n)]


def turn(i: int = 1) -> Turn:
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


@pytest.fixture(scope="module")
def conversation() -> np.ndarray:
    return read_audio(CONVERSATION, 16000).samples


async def vad_run(x: np.ndarray, **opts) -> list:
    vad = SileroVAD("vad", SileroVADOptions(**opts))
    await vad.load(noop)
    try:
        return await run_stage(vad, chunks(x))
    finally:
        await vad.aclose()


async def test_vad_finds_each_utterance_where_it_is(conversation):
    out = await vad_run(conversation)
    utts = [f for f in out if isinstance(f, Utterance)]
    script = conversation_script()
    assert len(utts) == len(script)
    assert len([f for f in out if isinstance(f, SpeechStarted)]) == len(script)
    for u, (start, end, _) in zip(utts, script):
        assert abs(u.turn.speech_start / 16000 - start) < 0.25
        assert abs(u.turn.speech_end / 16000 - end) < 0.3  # the script's end includes piper's trailing quiet
        # padded audio covers the speech
        assert len(u.samples) / 16000 >= (end - start)
    assert [u.turn.id for u in utts] == list(range(1, len(script) + 1))


async def test_vad_hears_nothing_in_silence_or_noise():
    rng = np.random.default_rng(0)
    quiet = np.concatenate([np.zeros(16000 * 3, np.float32),
                            (rng.standard_normal(16000 * 3) * 0.003).astype(np.float32)])
    out = await vad_run(quiet)
    assert not [f for f in out if isinstance(f, (Utterance, SpeechStarted))]


async def test_a_monologue_is_cut_into_turns_and_loses_no_speech(conversation):
    script = conversation_script()
    a, b = int(script[0][0] * 16000), int(script[0][1] * 16000)
    speech = conversation[a:b]
    mono = np.concatenate([speech] * 8)   # ~14 s without a pause
    out = await vad_run(mono, max_utterance_s=4.0)
    utts = [f for f in out if isinstance(f, Utterance)]
    assert len(utts) >= 3
    assert all(u.truncated for u in utts[:-1])
    covered = sum(u.turn.speech_end - u.turn.speech_start for u in utts)
    assert covered >= 0.9 * len(mono) - 16000
    # consecutive pieces meet exactly at the cut: nothing lost, nothing heard twice
    for a, b in zip(utts, utts[1:]):
        assert a.turn.speech_end == b.turn.speech_start


async def stt_once(audio: np.ndarray) -> str:
    stt = WhisperSTT("stt", WhisperOptions())
    await stt.load(noop)
    try:
        out = await run_stage(stt, [Utterance(turn=turn(), samples=audio, sample_rate=16000)])
    finally:
        await stt.aclose()
    (tr,) = [f for f in out if isinstance(f, Transcript)]
    return tr.text


def monologue(conversation: np.ndarray, times: int = 4) -> np.ndarray:
    """The three user phrases, over and over, with 150 ms breaths: ~6 s per round."""
    segs = [conversation[int(a * 16000): int(b * 16000)] for a, b, _ in conversation_script()]
    gap = np.zeros(int(0.15 * 16000), np.float32)
    return np.concatenate([x for _ in range(times) for s in segs for x in (s, gap)])


async def test_stt_transcribes_the_question(conversation):
    start, end, text = conversation_script()[0]
    audio = conversation[int((start - 0.2) * 16000): int((end + 0.2) * 16000)]
    assert {"capital", "france"} <= words(await stt_once(audio))


async def test_llm_streams_a_reply_and_keeps_history_and_prefix_cache():
    llm = Dialogue("llm")
    await llm.load(noop)
    eng = llm.backends["local"].engine
    try:
        out = await run_stage(llm, [Transcript(turn=turn(1), text="What is the capital of France?")])
        toks = [f for f in out if isinstance(f, ReplyToken)]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        # the reply streams clause by clause (the guard judges each clause whole before it is spoken)
        assert toks and all(t.text.rstrip()[-1:] in ".,;:!?" for t in toks[:-1]), [t.text for t in toks]
        assert "paris" in done.text.lower()
        # tools are no longer part of the cached prefix: a turn that could ask for one gets them
        # in a note just before its words (issue 15), so every turn shares the primed prefix
        system_tokens = len(eng.tokens([llm.memory.system()]))
        first = eng.last
        assert first.cached_tokens >= system_tokens - 4, "system prompt primed at load"
        out2 = await run_stage(llm, [Transcript(turn=turn(2), text="And of Italy?")])
        (done2,) = [f for f in out2 if isinstance(f, ReplyDone)]
        assert "rome" in done2.text.lower(), "history must carry the first exchange"
        second = eng.last
        assert second.cached_tokens > first.prompt_tokens - 4, "history stays in KV cache"
        assert [m["role"] for m in llm.memory.history] == ["user", "assistant"] * 2
        empty = await run_stage(llm, [Transcript(turn=turn(3), text="  ")])
        assert [f.reason for f in empty if isinstance(f, ReplyDone)] == ["empty"]
    finally:
        await llm.aclose()


async def test_tts_speaks_the_sentence_and_whisper_hears_it():
    tts = PiperTTS("tts")
    await tts.load(noop)
    try:
        out = await run_stage(tts, [ReplySentence(turn=turn(), text="The capital of France is Paris.", index=0)])
    finally:
        await tts.aclose()
    audio = np.concatenate([f.samples for f in out if isinstance(f, ReplyAudio)])
    assert len(audio) / tts.sample_rate > 1.0
    assert rms(audio) > 0.02
    heard = transcribe(audio, tts.sample_rate)
    assert {"capital", "paris"} <= words(heard), heard


def test_long_utterances_are_split_at_pauses_and_lose_nothing(conversation):
    from omni.stages.stt import split_long

    mono = monologue(conversation)  # ~25 s
    pieces = split_long(mono, 16000, 10.0)
    assert len(pieces) >= 3 and all(len(p) <= 10 * 16000 for p in pieces)
    assert np.array_equal(np.concatenate(pieces), mono)
    # each cut falls in a pause, not in a word
    edges = np.cumsum([len(p) for p in pieces])[:-1]
    assert all(rms(mono[e - 80:e + 80]) < 0.01 for e in edges)


async def test_stt_hears_the_whole_of_a_long_utterance(conversation):
    heard = (await stt_once(monologue(conversation))).lower()
    assert heard.count("capital") >= 3 and heard.count("cats") >= 3, heard


async def test_a_low_voice_the_short_window_takes_for_no_speech_is_decoded_on_whisper_s_own():
    """espeak-ng en-us+m7 pitched down: on the short encoder window (stt.window) tiny.en scores
    "Are you listening?" as no speech, so the user heard nothing back; whisper's 30 s window
    hears it."""
    from helpers import voice

    audio = voice("listening", "en-us-m7-low")
    noise = (0.018 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)  # -35 dBFS
    stt = WhisperSTT("stt", WhisperOptions(window=True, min_window_s=15))
    await stt.load(noop)
    try:
        out = await run_stage(stt, [Utterance(turn=turn(), samples=audio, sample_rate=16000)])
        fallbacks = stt.window_fallbacks
        # noise the VAD took for speech is not decoded again: nothing in it scores like words
        heard = stt.transcribe(noise)
        assert not heard.text and stt.window_fallbacks == fallbacks, heard
    finally:
        await stt.aclose()
    (tr,) = [f for f in out if isinstance(f, Transcript)]
    assert {"you", "listening"} <= words(tr.text), tr.text
    assert fallbacks == 1
