"""The turn-taking behaviours again, with voices that are not the assistant's: espeak-ng in four
voices (tests/voices/), the corpus's espeak and noisy files, and real people's recordings (the
real-speech set). Where a part is known to fail on a voice, the case is an xfail(strict=True)
with what was measured, so a change that mends it shows (the strict xfail then fails)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import VOICES, corpus, envelope, read_wav, recording, run_stage, say, silence, vad_utterances, voice, words

from omni.app.cli import main
from omni.audio import write_wav
from omni.engines.smart_turn import SmartTurn
from omni.frames import InputAudio, WakeWord
from omni.models import resolve
from omni.stages.wake import WakeGate, WakeOptions

SR = 16000
THRESHOLD = 0.7  # vad.end_of_turn.threshold


def known(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


# finished sentences: corpus files (espeak, noisy piper) and real people's recordings
FINISHED = {
    "e01 espeak en-us": lambda: corpus("e01"),
    "e03 espeak scotland": lambda: corpus("e03"),
    "e04 espeak f3 'Thanks, that was helpful.'": lambda: corpus("e04"),
    "n01 piper in pink noise": lambda: corpus("n01"),
    "real: 'I think that America do it very well.'": lambda: recording("clone-test.wav", 1.1, 3.25),
    "real: 'Ever tried.'": lambda: recording("beckett.wav", 0.0, 1.3),
    "real: 'We have still that resource.'": lambda: recording("endgame_nagg_nell.wav", 10.0, 11.15),
    "real: 'Do you hear me?'": lambda: recording("endgame_nagg_nell.wav", 0.0, 0.85),
}
MISSES_FINISHED = {"real: 'Do you hear me?'": "Smart Turn scored a real 'Do you hear me?' 0.26"}


def cases(table: dict, misses: dict, varies: dict | None = None) -> list:
    varies = varies or {}
    return [pytest.param(name, marks=known(misses[name]) if name in misses else
                         pytest.mark.xfail(strict=False, reason=varies[name]) if name in varies else (), id=name)
            for name in table]


# Smart Turn v3.2 is an int8 model: its score depends on the CPU's int8 kernels and onnxruntime's
# version. On one AMD EPYC (AVX-512 VNNI) with onnxruntime 1.22-1.32, e03 scored 0.35-0.71 and
# e04 0.49-0.66, under THRESHOLD, where the machine of the earlier runs scored both over it; and
# espeak en-us "about the" 0.26-0.39 there, 0.97 here before. Cases this close to the threshold
# cannot be pinned by a test (docs/real-speech.md): they pass or fail with the machine.
ON_THE_CPU = "Smart Turn's int8 score of this case depends on the CPU and onnxruntime: {}"
VARIES_FINISHED = {"e03 espeak scotland": ON_THE_CPU.format("0.54 on AMD EPYC (AVX-512 VNNI), over 0.7 elsewhere"),
                   "e04 espeak f3 'Thanks, that was helpful.'": ON_THE_CPU.format("0.66 on AMD EPYC, over 0.7 elsewhere")}


@pytest.fixture(scope="module")
def smart_turn():
    return SmartTurn(resolve("turn", "smart-turn-v3").location)


@pytest.mark.parametrize("name", cases(FINISHED, MISSES_FINISHED, VARIES_FINISHED))
def test_smart_turn_hears_the_end_of_a_finished_sentence(smart_turn, name):
    assert smart_turn.predict(np.concatenate([FINISHED[name](), silence(0.2)])) >= THRESHOLD


def about_the(who: str) -> np.ndarray:
    return say("I would like to know about the") if who == "piper" else voice("about_the", who)


def the_weather(who: str) -> np.ndarray:
    return say("weather in Paris tomorrow.") if who == "piper" else voice("weather", who)


SPEAKERS = ("piper", *VOICES)
HEARS_AN_END = {"en-us-f3": "Smart Turn scored espeak en-us+f3 'I would like to know about the' 0.99"}
VARIES_ABOUT = {"en-us": ON_THE_CPU.format("espeak en-us 'I would like to know about the' 0.97 on one machine, "
                                           "0.39 on AMD EPYC (AVX-512 VNNI)")}


@pytest.mark.parametrize("who", cases(dict.fromkeys(SPEAKERS), HEARS_AN_END, VARIES_ABOUT))
def test_smart_turn_hears_no_end_after_about_the(smart_turn, who):
    assert smart_turn.predict(np.concatenate([about_the(who), silence(0.2)])) < THRESHOLD


@pytest.mark.parametrize("name", cases(FINISHED, {}, {"e03 espeak scotland": VARIES_FINISHED["e03 espeak scotland"]}))
async def test_a_finished_sentence_ends_its_turn_on_the_first_pauses(name):
    """Decided by the model within 0.5 s of the speech's end (pause_ms 200 plus one recheck),
    not after max_silence_ms (1.2 s)."""
    speech = FINISHED[name]()
    ((u, decided),) = await vad_utterances(np.concatenate([silence(0.3), speech, silence(2.0)]),
                                      end_of_turn={"pause_ms": 200, "max_silence_ms": 1200})
    assert u.ended_by == "model"
    assert 0.3 + len(speech) / SR - 1.0 < u.turn.speech_end / SR <= 0.3 + len(speech) / SR + 0.1
    assert (decided - u.turn.speech_end) / SR < 0.5


CUT_BY_THE_MODEL = {w: "with a 600 ms pause after 'about the' the VAD's end-of-turn model ends the turn "
                    "(the recognizer then hears the sentence whole: test_a_sentence_paused_after_about_the...)"
                    for w in ("piper", "en-us", "en-us-f3")}


@pytest.mark.parametrize("who", cases(dict.fromkeys(SPEAKERS), CUT_BY_THE_MODEL))
async def test_a_pause_after_about_the_does_not_end_the_turn_with_the_model(who):
    audio = np.concatenate([silence(0.5), about_the(who), silence(0.6), the_weather(who), silence(1.5)])
    plain = await vad_utterances(audio, min_silence_ms=400)
    assert len(plain) == 2, "silence alone cuts the sentence at its pause"
    smart = await vad_utterances(audio, end_of_turn={"max_silence_ms": 1200})
    assert len(smart) == 1, [u.turn.speech_end / SR for u, _ in smart]


# the wake word (microWakeWord's "Hey Jarvis" model is trained on piper speech) --------------

async def wakes(audio: np.ndarray) -> list[WakeWord]:
    stage = WakeGate("wake", WakeOptions(mode="wake_word"))
    await stage.load(lambda *_: None)
    chunks = [InputAudio(samples=audio[i:i + 512], sample_rate=SR, start=i) for i in range(0, len(audio), 512)]
    try:
        return [f for f in await run_stage(stage, chunks) if isinstance(f, WakeWord)]
    finally:
        await stage.aclose()


DEAF = {w: f"microWakeWord did not fire on espeak {w} 'Hey Jarvis, what time is it?'"
        for w in ("en-us", "en-gb", "en-gb-scotland")}


@pytest.mark.slow
@pytest.mark.parametrize("who", cases(dict.fromkeys(VOICES), DEAF))
async def test_hey_jarvis_in_other_voices_opens_the_gate(who):
    got = await wakes(np.concatenate([silence(0.5), voice("hey", who), silence(0.5)]))
    assert [w.name for w in got] == ["Hey Jarvis"]


@pytest.mark.slow
@pytest.mark.parametrize("name,seconds", [("two_cities.wav", 30.0), ("endgame_nagg_nell.wav", 17.0)])
async def test_real_people_talking_never_open_the_gate(name, seconds):
    assert await wakes(recording(name, 0.0, seconds)) == []


# the whole loop: a sentence with a pause in it gets one answer, to all of it ---------------

def run(tmp_path, audio: np.ndarray) -> tuple[list[dict], np.ndarray]:
    write_wav(tmp_path / "in.wav", audio, SR)
    code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(tmp_path / "out.wav"),
                 "--metrics", str(tmp_path / "turns.jsonl"), "--quiet"])
    assert code == 0
    out, rate = read_wav(tmp_path / "out.wav")
    assert rate == SR
    return [json.loads(x) for x in (tmp_path / "turns.jsonl").read_text().splitlines()], out


def one_answer(tmp_path, first: np.ndarray, pause_s: float, rest: np.ndarray) -> tuple[dict, float]:
    """Runs `first`, a pause, `rest`; checks that nothing was said before the user finished and
    exactly one turn was answered. That turn's record, and when the user finished."""
    audio = np.concatenate([silence(0.5), first, silence(pause_s), rest, silence(6.0)])
    finished = 0.5 + (len(first) + len(rest)) / SR + pause_s
    turns, out = run(tmp_path, audio)
    env = envelope(out, SR)
    loud = np.flatnonzero(env > 0.01) * 0.05
    assert len(loud) and loud[0] > finished, f"the assistant spoke at {loud[0]:.2f} s, the user went on to {finished:.2f} s"
    answered = [t for t in turns if t["reply"]]
    assert len(answered) == 1, [(t["transcript"], t["reply"]) for t in turns]
    return answered[0], finished


ABOUT_THE_2026_12_03 = pytest.mark.xfail(strict=False, reason=(
    "in 1 of 3 whole-suite runs of the 1.5B default (2026-12-03, nothing else running) the reply to "
    "the first part was audible in the 0.6 s pause (piper 2.80 s, the user went on to 3.59 s; en-gb "
    "3.60 s, to 4.67 s); passed in the other two and alone; not yet understood (issue 27)"))


@pytest.mark.slow
@pytest.mark.parametrize("who", [pytest.param("piper", marks=ABOUT_THE_2026_12_03),
                                 pytest.param("en-gb", marks=ABOUT_THE_2026_12_03)])
def test_a_sentence_paused_after_about_the_is_heard_and_answered_whole(tmp_path, who):
    """Whisper completes the first part ("about that."), the model ends that turn: the user going
    on within stt.merge_within_s makes the next turn decode both parts as one sentence."""
    turn, _ = one_answer(tmp_path, about_the(who), 0.6, the_weather(who))
    assert {"know", "weather", "tomorrow"} <= words(turn["transcript"]), turn["transcript"]


@pytest.mark.slow
@pytest.mark.parametrize("who", [
    # (piper and en-gb-scotland were xfails until turn_words read "What is the capital of?" as a
    # question cut off: whisper's question mark had made it a finished one, answered before "France")
    "piper",
    # not strict: passed in 2 of 3 whole-suite runs after that change; in the third the assistant
    # spoke at 3.35 s, before the user's "France?" (to 3.75 s): not yet understood
    pytest.param("en-gb-scotland", marks=pytest.mark.xfail(strict=False, reason=(
        "answered before 'France?' in 1 of 3 whole-suite runs (spoke at 3.35 s, the user went on to 3.75 s)"))),
    # not strict: passed in 2 of 4 whole-suite runs here (whisper then heard "capital of?")
    pytest.param("en-us", marks=pytest.mark.xfail(strict=False, reason=(
        "whisper mostly hears espeak en-us 'What is the capital of' as 'What is the capital?': finished "
        "words, so nothing holds the turn, and it is answered ('London') before 'France?'"))),
])
def test_what_is_the_capital_of_pause_france_is_answered_once(tmp_path, who):
    first = say("What is the capital of") if who == "piper" else voice("capital_of", who)
    rest = say("France?") if who == "piper" else voice("france", who)
    turn, _ = one_answer(tmp_path, first, 0.8, rest)
    assert "paris" in turn["reply"].lower(), turn


@pytest.mark.slow
@pytest.mark.parametrize("who", cases(dict.fromkeys(["piper", "en-us"]), {
    "en-us": "whisper hears espeak en-us 'Tell me a joke about ... cats.' as 'Tell me a joke I'm out.'"}))
def test_a_turn_held_on_about_goes_on_and_is_answered_whole(tmp_path, who):
    """stt.hold_ms: whisper hears "Tell me a joke about." (a word no sentence ends on), so the
    turn is held; the user goes on ("cats.", shorter than backchannel_ms) and one answer comes,
    to the whole request."""
    first = say("Tell me a joke about") if who == "piper" else voice("joke_about", who)
    rest = say("cats.") if who == "piper" else voice("cats", who)
    turn, _ = one_answer(tmp_path, first, 0.8, rest)
    assert {"joke", "cats"} <= words(turn["transcript"]), turn["transcript"]


# the recogniser: one question, cut by the VAD where it falls on the 32 ms chunks ------------

@pytest.fixture(scope="module")
def desktop_stt():
    import asyncio

    from omni.config import load_pipeline
    from omni.stages.stt import WhisperOptions, WhisperSTT

    cfg = load_pipeline("desktop")
    stt = WhisperSTT("stt", WhisperOptions(**next(s for s in cfg.stages if s.name == "stt").options))
    asyncio.run(stt.load(lambda *a: None))
    yield stt, next(s for s in cfg.stages if s.name == "vad").options
    asyncio.run(stt.aclose())


FRIENDS = ("with the question at this offset the VAD cuts a 1.78 s utterance, and tiny.en's greedy decode "
           "on the short encoder window (stt.window, 15 s) hears 'What is the capital of friends?' (on "
           "whisper's 30 s window, or with 0.3 s more silence around it, 'France'); a live run's "
           "question falls at a random offset, so the live tests failed now and then")


@pytest.mark.parametrize("offset", [pytest.param(0, marks=known(FRIENDS)), 128, pytest.param(256, marks=known(FRIENDS))])
async def test_what_is_the_capital_of_france_is_heard_wherever_it_falls(desktop_stt, offset):
    stt, vad_options = desktop_stt
    audio = np.concatenate([silence(1.0 + offset / SR), say("What is the capital of France?"), silence(2.0)])
    (u, _), = await vad_utterances(audio, **vad_options)
    assert stt.transcribe(u.samples)[0] == "What is the capital of France?"
