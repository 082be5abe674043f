"""Faults inside a run, each made real: a model that raises inside a turn (STT, LLM, TTS), the
disk full under an output. The pipeline answers the next turn; the fault is an event (in the
turn's record) and a log line. (The LLM server killed or hanging: test_dialogue_live; the broker
killed: test_mqtt; the camera unplugged: test_camera; the sound server gone: test_live_audio.)"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
from pathlib import Path

import faulty
import numpy as np
import pytest
from helpers import read_wav, say, silence, words

from omni.app.cli import main
from omni.audio import write_wav

pytestmark = pytest.mark.slow

LOCAL = "{model: qwen2.5-coder-0.5b, n_ctx: 2048, threads: 2}"
FAULTS = {
    # the final decode raises (with the pause decode on, the first decode to raise is the pause's,
    # which is only logged: the final decode, made anew, then costs the turn nothing)
    "stt": ["--set", "stt.engine=faulty:FaultyWhisper", "--set", "stt.partial_every_ms=0",
            "--set", "vad.end_of_turn.decode_at_pause=false"],
    "tts": ["--set", "tts.engine=faulty:FaultyPiper"],
    "llm": ["--set", f'llm.backends.local={{type: custom, cls: "faulty:FaultyLlama", settings: {LOCAL}}}'],
}


def two_questions(path: Path) -> None:
    write_wav(path, np.concatenate([silence(0.5), say("What is the capital of France?"), silence(5.0),
                                    say("What is the capital of Italy?"), silence(4.0)]), 16000)


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_model_that_raises_inside_a_turn_costs_that_turn_only(tmp_path, caplog, kind):
    two_questions(tmp_path / "in.wav")
    faulty.FAULTS[kind], faulty.RAISED[:] = 1, []
    caplog.set_level(logging.WARNING)
    code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(tmp_path / "out.wav"),
                 "--metrics", str(tmp_path / "m.jsonl"), "--set", "llm.preemptive=false", "--quiet", *FAULTS[kind]])
    assert code == 0 and faulty.RAISED == [kind]
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    faulted = [r for r in records if any("injected fault" in e for e in r["errors"])]
    assert len(faulted) == 1 and faulted[0]["turn"] == 1, [(r["transcript"], r["errors"]) for r in records]
    if kind == "llm":  # the router takes a backend that raises as failed: the fallback is spoken
        assert "sorry" in faulted[0]["reply"].lower(), faulted[0]
    assert any("injected fault" in r.getMessage() + str(r.exc_info and r.exc_info[1])
               for r in caplog.records)  # and a log line
    last = records[-1]
    assert {"capital", "italy"} <= words(last["transcript"]) and "rome" in words(last["reply"]), last
    assert not last["errors"]
    out, rate = read_wav(tmp_path / "out.wav")
    assert np.abs(out[int(last["reply_start_s"] * rate):]).max() > 0.05, "the last reply is heard"


def test_a_decode_at_the_pause_that_raises_costs_nothing(tmp_path, caplog):
    """The recogniser raises on the decode made at the pause (vad.end_of_turn.decode_at_pause):
    a warning, and the final decode, made anew, gives the turn its words and its reply."""
    two_questions(tmp_path / "in.wav")
    faulty.FAULTS["stt"], faulty.RAISED[:] = 1, []
    caplog.set_level(logging.WARNING)
    code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(tmp_path / "out.wav"),
                 "--metrics", str(tmp_path / "m.jsonl"), "--set", "llm.preemptive=false", "--quiet",
                 "--set", "stt.engine=faulty:FaultyWhisper", "--set", "stt.partial_every_ms=0"])
    assert code == 0 and faulty.RAISED == ["stt"]
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert any("a streaming decode failed" in r.getMessage() for r in caplog.records)
    assert [r["errors"] for r in records] == [[], []], records
    assert "paris" in words(records[0]["reply"]) and "rome" in words(records[1]["reply"]), records


@contextlib.contextmanager
def small_disk(folder: Path, kib: int):
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {r.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_under_the_output_is_a_clear_error_and_leaves_no_part(tmp_path, capsys):
    two_questions(tmp_path / "in.wav")  # 15 s: 480 KB of reply audio, on a 64 KB disk
    with small_disk(tmp_path / "disk", 64) as disk:
        code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(disk / "out.wav"),
                     "--metrics", str(tmp_path / "m.jsonl"), "--fast", "--quiet"])
        err = capsys.readouterr().err
        assert code == 1 and f"cannot write {disk / 'out.wav'}: the disk is full" in err, err
        assert "Traceback" not in err
        assert list(disk.iterdir()) == []  # no .part, no half a file
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert len(records) == 2 and "paris" in words(records[0]["reply"])  # the turns are kept


def test_a_full_disk_under_the_metrics_keeps_the_audio_and_says_what_is_missing(tmp_path, capsys):
    two_questions(tmp_path / "in.wav")
    with small_disk(tmp_path / "disk", 4) as disk:
        (disk / "fill").write_bytes(b"\0" * 3500)  # room for the probe, not for the turns
        code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(tmp_path / "out.wav"),
                     "--metrics", str(disk / "m.jsonl"), "--fast", "--quiet"])
        err = capsys.readouterr().err
    assert code == 1 and "are incomplete: the disk is full" in err, err
    out, _ = read_wav(tmp_path / "out.wav")
    assert len(out) and np.abs(out).max() > 0.05  # the reply audio is written whole


def hud_frames(path: Path, n: int) -> None:
    """`n` frames of a HUD video (camera noise: frames that do not compress away) to `path`."""
    from omni.app.hud import HudWriter

    hud = HudWriter(path, fps=10)
    hud._open()
    rng = np.random.default_rng(0)
    for _ in range(n):
        hud._shown.image = rng.integers(0, 255, (480, 854, 3), dtype=np.uint8)
        hud._write(hud._shown, 0.0, 1)
    hud._close()


def test_a_full_disk_under_the_hud_video_is_a_clear_error_not_a_short_video(tmp_path):
    from omni.errors import OutputError

    hud_frames(tmp_path / "whole.mp4", 20)  # on a disk with room: kept, every frame in it
    import cv2

    assert int(cv2.VideoCapture(str(tmp_path / "whole.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    with small_disk(tmp_path / "disk", 256) as disk:
        # OpenCV's writer says nothing when the disk fills: the video would be kept short or unreadable
        with pytest.raises(OutputError, match="not written whole .the disk is full"):
            hud_frames(disk / "hud.mp4", 20)
        assert list(disk.iterdir()) == []
