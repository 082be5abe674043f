"""What a careless or hostile user gives the command line and the input file, each refused before
any model loads (exit 2, a message that says what to do), the input never touched, no output
half-written: issue 18's cases 3, 4, 5 and 7."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import say, silence

from omni.app.cli import main
from omni.audio import write_wav
from omni.runtime import Pipeline



def wav(rate: int = 16000, channels: int = 1, bits: int = 16, frames: int = 16000, keep: float = 1.0) -> bytes:
    """A WAV file with the header fields given, cut to `keep` of its length."""
    data = b"\x01\x00" * frames * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * channels * bits // 8) & 0xFFFFFFFF,
                      channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    whole = b"RIFF" + struct.pack("<I", len(body)) + body
    return whole[:int(len(whole) * keep)]


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    p = tmp_path / "a.wav"
    write_wav(p, np.concatenate([silence(0.3), say("Hello there."), silence(0.5)]), 16000)
    return p


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    """Every case here is refused before the pipeline loads a model: a load fails the test."""
    def load(self, *a, **k):
        raise AssertionError("a model loaded: the bad input was not refused first")

    monkeypatch.setattr(Pipeline, "load", load)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--quiet"])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("args, message", [
    (["--audio-out", "{in}"], "--audio-out {in} is the input of --audio-in"),
    (["--metrics", "{in}"], "--metrics {in} is the input of --audio-in"),
    (["--video-out", "{dir}/x/../a.wav"], "is the input of --audio-in"),
    (["--audio-out", "{dir}"], "is a folder"),
    (["--audio-out", "{in}/reply.wav"], "is a file, not a folder"),
    (["--audio-out", "{dir}/o.wav", "--metrics", "{dir}/o.wav"], "--metrics and --audio-out both name"),
    (["--out-rate", "0"], "--out-rate 0 Hz is out of range"),
    (["--out-rate", "-5"], "--out-rate -5 Hz is out of range"),
    (["--out-rate", "10000000"], "use 8000-192000 Hz"),
    (["--duration", "-5"], "--duration -5 s is out of range"),
    (["--hud-fps", "0"], "--hud-fps 0 is out of range"),
])
def test_an_output_that_cannot_be_kept_is_refused_before_the_run(capsys, recording, args, message):
    before = digest(recording)
    fill = {"in": str(recording), "dir": str(recording.parent)}
    code, text = run(capsys, "desktop", "--audio-in", str(recording), *(a.format(**fill) for a in args))
    assert code == 2 and message.format(**fill) in text, text
    assert "hint:" in text and "Traceback" not in text
    assert digest(recording) == before
    assert sorted(p.name for p in recording.parent.iterdir()) == ["a.wav"]  # nothing written


@contextlib.contextmanager
def unwritable(folder: Path):
    """A folder nobody can create files in, root included (root ignores chmod): immutable."""
    folder.chmod(0o555)
    probe = folder / ".probe"
    try:
        probe.touch()
    except OSError:
        yield  # chmod was enough (not root)
        folder.chmod(0o755)
        return
    probe.unlink()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        folder.chmod(0o755)
        pytest.skip("cannot make a folder read-only here (root, and no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_read_only_output_folder_is_refused_before_the_run(capsys, recording, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    with unwritable(ro):
        for flag in ("--audio-out", "--metrics"):
            code, text = run(capsys, "desktop", "--audio-in", str(recording), flag, str(ro / "out.x"))
            assert code == 2 and f"{flag} {ro / 'out.x'}: cannot write in {ro}" in text, text
            assert "Traceback" not in text


@pytest.mark.parametrize("header, message", [
    (dict(rate=4294967295), "invalid WAV header (rate 4294967295 Hz"),
    (dict(bits=0), "a WAV file with a broken header"),
    (dict(channels=0), "a WAV file with a broken header"),
    (dict(frames=32000, keep=0.4), "truncated: its header promises 2.0 s of audio, the file holds 0.8 s"),
])
def test_a_broken_wav_header_is_a_clear_error_before_the_run(capsys, tmp_path, header, message):
    p = tmp_path / "in.wav"
    p.write_bytes(wav(**header))
    code, text = run(capsys, "desktop", "--audio-in", str(p), "--audio-out", str(tmp_path / "o.wav"))
    assert code == 2 and message in text and "hint:" in text, text
    assert not (tmp_path / "o.wav").exists()


def test_a_pipeline_file_that_is_not_utf8_and_a_set_value_that_is_not(capsys, recording, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"stages: [\xff\xfe]\n")
    code, text = run(capsys, "desktop", "--pipeline-file", str(bad), "--audio-in", str(recording))
    assert code == 2 and "not UTF-8 text (byte 9 is 0xff)" in text, text
    # a command-line byte that is not UTF-8 reaches Python as a lone surrogate
    code, text = run(capsys, "desktop", "--audio-in", str(recording), "--set", "llm.system=\udcff")
    assert code == 2 and "override 'llm.system=\\udcff' is not UTF-8 text" in text, text


@pytest.mark.parametrize("args, message", [
    (["--node-id", "kitchen #"], "mqtt.node_id is part of every MQTT topic"),
    (["--node-id", ""], "got ''"),
    (["--node-id", "#"], "got '#'"),
    (["--set", "mqtt.node_id=kitchen #"], "got 'kitchen #'"),
    (["--set", "mqtt.discovery.prefix=home assistant"], "mqtt.discovery.prefix is part of every MQTT topic"),
    (["--set", "mqtt.devices.light.topic=omni/kitchen/cmd/ask"], "lies under omni/kitchen/#"),
    (["--set", "mqtt.devices.light.topic=homeassistant/light/x/config"], "lies under homeassistant/#"),
])
def test_a_node_id_or_topic_that_is_not_a_topic_is_refused(capsys, args, message):
    code, text = run(capsys, "smart-home", *args)
    assert code == 2 and message in text, text


def test_a_password_in_the_broker_url_is_refused_and_never_printed(capsys):
    code, text = run(capsys, "smart-home", "--broker", "mqtt://omni:S3CRET-pw@127.0.0.1:1883")
    assert code == 2 and "the broker URL has a password in it" in text and "OMNI_MQTT_PASSWORD" in text, text
    assert "S3CRET" not in text
