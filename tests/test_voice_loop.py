"""The whole loop on the bundled assets, through the command line, as a user runs it."""

import json
import wave

import numpy as np
import pytest
from helpers import CONVERSATION, conversation_script, read_wav, rms, transcribe, words

from omni.app.cli import main
from omni.audio import read_audio, write_wav

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    # in real time, as `make run` does: with --fast, five turns queue behind each other and a
    # reply may still be playing when the next one is due, which says nothing about the timeline
    code = main(["desktop", "--audio-in", str(CONVERSATION), "--audio-out", str(out / "reply.wav"),
                 "--metrics", str(out / "turns.jsonl"), "--quiet"])
    turns = [json.loads(line) for line in (out / "turns.jsonl").read_text().splitlines()]
    audio, rate = read_wav(out / "reply.wav")
    return code, turns, audio, rate


def test_every_utterance_is_a_turn_with_the_right_words(run):
    code, turns, _, _ = run
    assert code == 0
    script = conversation_script()
    ids = [t["turn"] for t in turns]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 5, ids
    # "Thank you, that is all for now.": however the end of turn cuts it (see the xfail below),
    # nothing is said over the user, and the last of its turns answers it
    fifth = [t for t in turns if t["speech_start_s"] >= script[4][0] - 0.3]
    *cut, rest = fifth
    assert len(turns) == 4 + len(fifth)
    assert all(t["reply"] == "" and t.get("heard", "") == "" for t in cut), cut
    assert words(" ".join(t["transcript"] for t in fifth)) >= {"thank", "you", "all", "now"}
    assert {"all", "now"} <= words(rest["transcript"]) and rest["reason"] == "complete"
    thanks = fifth[0]
    turns = [*turns[:4], rest]
    expected = [{"capital", "france"}, {"fact", "cats"}, {"kitchen", "light"}, {"time"}, {"all", "now"}]
    for t, want in zip(turns, expected):
        assert want <= words(t["transcript"]), t["transcript"]
        assert t["reply"], "every question gets a reply"
    assert "paris" in turns[0]["reply"].lower()
    # the command and the time take the fast path: no LLM, a spoken confirmation
    assert turns[2]["reply"] == "Kitchen light on." and turns[2]["stages"]["llm"]["backend"] == "intent"
    assert turns[2]["actions"] == [{"action": "light", "args": {"room": "kitchen", "state": "on"},
                                    "source": "intent"}], "recorded once, though every stage passes it on"
    assert all(t["actions"] == [] for i, t in enumerate(turns) if i != 2)
    assert turns[3]["reply"].startswith("It's ") and turns[3]["stages"]["llm"]["backend"] == "intent"
    for t, (start, end, _) in zip(turns, script):
        assert abs(t["speech_end_s"] - end) < 0.3
    assert thanks["speech_start_s"] == pytest.approx(script[4][0], abs=0.3)


@pytest.mark.xfail(strict=True, reason="Smart Turn v3 takes 'Thank you.' for a finished turn: the 350 ms "
                   "pause after it ends the turn, the user goes on, and that reply is dropped unheard")
def test_thank_you_that_is_all_for_now_is_one_turn(run):
    _, turns, _, _ = run
    script = conversation_script()
    fifth = [t for t in turns if t["speech_start_s"] >= script[4][0] - 0.3]
    assert len(fifth) == 1, [t["transcript"] for t in fifth]


def test_metrics_lines_have_v2v_and_every_stage_against_its_budget(run):
    _, turns, _, _ = run
    for t in turns:
        assert t["end_of_turn_ms"] > 0 and t["stages"]["vad"]["end_of_turn"] in ("model", "words", "max_silence")
    turns = [t for t in turns if not t["interrupted"]]
    for t in turns:
        assert t["v2v_ms"] > 0
        assert set(t["stages"]) == {"vad", "stt", "llm", "sentences", "tts"}
        for st in t["stages"].values():
            assert st["ms"] >= 0 and st["budget_ms"] > 0 and st["ok"] == (st["ms"] <= st["budget_ms"])
        if t["stages"]["llm"]["backend"] != "intent":
            assert t["stages"]["llm"]["backend"] == "local" and t["stages"]["llm"]["cached_tokens"] > 0


def test_output_is_on_the_input_timeline_with_speech_only_where_the_assistant_speaks(run):
    _, turns, audio, rate = run
    turns = [t for t in turns if not t["interrupted"]]
    src = read_audio(CONVERSATION, 16000)
    assert rate == src.source_rate
    assert len(audio) >= len(src.samples) * rate // 16000
    first_end = turns[0]["speech_end_s"]
    assert rms(audio[: int(first_end * rate)]) < 1e-4, "silent before the first reply"
    for t in turns:
        start = t["speech_end_s"] + t["v2v_ms"] / 1000
        seg = audio[int(start * rate): int((start + 1.0) * rate)]
        assert rms(seg) > 0.02, f"turn {t['turn']}: speech where the reply should start"
        before = audio[int(t["speech_end_s"] * rate): int((start - 0.05) * rate)]
        assert rms(before) < 1e-3, "no sound before the reply starts"


def test_the_reply_audio_says_the_reply_text(run):
    _, turns, audio, rate = run
    t = turns[0]
    start = t["speech_end_s"] + t["v2v_ms"] / 1000
    heard = transcribe(audio[int(start * rate): int((start + 4.0) * rate)], rate)
    reply_words = words(t["reply"]) - {"the", "a", "is", "of"}
    assert len(reply_words & words(heard)) >= max(2, len(reply_words) // 2), (heard, t["reply"])


def test_stereo_44k_input_gives_44k_output_on_the_same_timeline(tmp_path):
    src = read_audio(CONVERSATION, 44100)
    start, end, _ = conversation_script()[0]
    clip = src.samples[: int((end + 3.0) * 44100)]
    p = tmp_path / "stereo.wav"
    with wave.open(str(p), "wb") as wf:
        wf.setnchannels(2)
        wf.setsampwidth(2)
        wf.setframerate(44100)
        wf.writeframes((np.repeat(clip[:, None], 2, axis=1) * 32767).astype("<i2").tobytes())
    code = main(["desktop", "--audio-in", str(p), "--audio-out", str(tmp_path / "o.wav"),
                 "--metrics", str(tmp_path / "m.jsonl"), "--fast", "--quiet", "--set", "llm.max_tokens=24"])
    assert code == 0
    (turn,) = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert {"capital", "france"} <= words(turn["transcript"])
    out, rate = read_wav(tmp_path / "o.wav")
    assert rate == 44100 and len(out) >= len(clip)
    s = turn["speech_end_s"] + turn["v2v_ms"] / 1000
    assert rms(out[: int(end * rate)]) < 1e-4
    assert rms(out[int(s * rate): int((s + 0.8) * rate)]) > 0.02


def test_silence_only_runs_cleanly_with_no_turns(tmp_path, capsys):
    p = tmp_path / "silence.wav"
    write_wav(p, np.zeros(16000 * 3, np.float32), 16000)
    code = main(["desktop", "--audio-in", str(p), "--audio-out", str(tmp_path / "o.wav"),
                 "--metrics", str(tmp_path / "m.jsonl"), "--fast"])
    assert code == 0
    assert (tmp_path / "m.jsonl").read_text() == ""
    out, _ = read_wav(tmp_path / "o.wav")
    assert len(out) == 16000 * 3 and rms(out) == 0
    assert "no speech was detected" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"", "empty"),
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "cannot decode"),
    (b"plain text, not audio\n" * 40, "cannot decode"),
])
def test_bad_input_files_stop_cleanly_with_a_clear_message(tmp_path, capsys, content, message):
    p = tmp_path / "in.wav"
    if content is not None:
        p.write_bytes(content)
    code = main(["desktop", "--audio-in", str(p), "--audio-out", str(tmp_path / "o.wav"), "--fast"])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and str(p) in err
    assert not (tmp_path / "o.wav").exists()


def test_a_missing_model_says_what_to_do(tmp_path, capsys):
    code = main(["desktop", "--audio-in", str(CONVERSATION), "--audio-out", str(tmp_path / "o.wav"),
                 "--fast", "--llm-model", str(tmp_path / "missing.gguf")])
    assert code == 2
    err = capsys.readouterr().err
    assert "llm model path does not exist" in err and "hint" in err


def test_no_audio_in_points_to_file_mode(capsys):
    assert main(["desktop"]) == 2
    assert "--audio-in" in capsys.readouterr().err


def test_a_run_stopped_early_still_writes_the_reply_audio_so_far(tmp_path):
    import asyncio

    from omni.app.session import run
    from omni.app.view import ConsoleView
    from omni.config import load_pipeline
    from omni.frames import ReplyPlayed
    from omni.transports.files import FileRunOptions, FileTransport

    out = tmp_path / "o.wav"
    opts = FileRunOptions(audio_in=CONVERSATION, audio_out=out, realtime=True)
    first_end = conversation_script()[0][1]

    async def main_run() -> None:
        played = asyncio.Event()

        class FirstReply:  # the player has played the first reply to its end
            def on_frame(self, name, frame) -> None:
                if isinstance(frame, ReplyPlayed) and frame.text:
                    played.set()

        task = asyncio.create_task(run(load_pipeline("desktop"), FileTransport(opts), ConsoleView(quiet=True),
                                       observers=[FirstReply()]))
        await asyncio.wait_for(played.wait(), 120)
        assert not task.done()  # the conversation goes on: stopped early
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main_run())
    audio, rate = read_wav(out)
    assert rms(audio[int(first_end * rate):]) > 0.01, "the first reply is in the file"


@pytest.mark.parametrize("flag, spec", [("--stt-model", "Systran/faster-whisper-small"),
                                        ("--llm-model", "Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf")])
def test_a_hub_model_offline_fails_with_what_to_do(tmp_path, capsys, monkeypatch, flag, spec):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["desktop", "--audio-in", str(CONVERSATION), "--audio-out", str(tmp_path / "o.wav"),
                 "--fast", flag, spec])
    assert code == 2
    err = capsys.readouterr().err
    assert spec in err and "offline" in err and "local path" in err
