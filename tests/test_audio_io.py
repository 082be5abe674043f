"""Audio files in any common shape are converted; bad files give clear errors."""

import wave

import numpy as np
import pytest

from omni.audio import Timeline, read_audio, write_wav
from omni.errors import InputError
from omni.frames import ReplyAudio, Turn


def tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_pcm(path, x: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> None:
    data = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(channels)
        wf.setsampwidth(width)
        wf.setframerate(rate)
        if width == 1:
            wf.writeframes(((data * 127) + 128).astype(np.uint8).tobytes())
        elif width == 2:
            wf.writeframes((data * 32767).astype("<i2").tobytes())
        elif width == 3:
            i = (data * 8388607).astype(np.int32)
            b = np.stack([(i >> s) & 0xFF for s in (0, 8, 16)], axis=1).astype(np.uint8)
            wf.writeframes(b.tobytes())
        else:
            wf.writeframes((data * 2147483647).astype("<i4").tobytes())


@pytest.mark.parametrize("rate, channels, width", [
    (44100, 2, 2), (8000, 1, 1), (48000, 1, 3), (22050, 2, 4), (16000, 1, 2),
])
def test_wav_of_any_rate_and_width_becomes_16k_mono(tmp_path, rate, channels, width):
    p = tmp_path / "in.wav"
    write_pcm(p, tone(rate, 1.0), rate, channels, width)
    a = read_audio(p, 16000)
    assert a.sample_rate == 16000 and a.source_rate == rate and a.source_channels == channels
    assert abs(len(a.samples) - 16000) <= 2
    # still a 440 Hz tone at the same level
    spectrum = np.abs(np.fft.rfft(a.samples[1000:15000]))
    peak_hz = np.argmax(spectrum) * 16000 / len(a.samples[1000:15000])
    assert abs(peak_hz - 440) < 5
    assert 0.3 < np.max(np.abs(a.samples)) < 0.55


def test_flac_and_mp3_decode_through_av(tmp_path):
    import av

    x = tone(44100, 1.0)
    for ext, codec in (("flac", "flac"), ("mp3", "mp3")):
        p = tmp_path / f"in.{ext}"
        with av.open(str(p), "w") as out:
            s = out.add_stream(codec, rate=44100, layout="mono")
            frame = av.AudioFrame.from_ndarray((x * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
            frame.sample_rate = 44100
            for pkt in s.encode(frame):
                out.mux(pkt)
            for pkt in s.encode(None):
                out.mux(pkt)
        a = read_audio(p, 16000)
        assert abs(a.seconds - 1.0) < 0.1, ext
        assert np.max(np.abs(a.samples)) > 0.3, ext


def test_missing_empty_corrupt_and_non_audio_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_audio(tmp_path / "nope.wav", 16000)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_audio(empty, 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x07" * 40)
    with pytest.raises(InputError):
        read_audio(corrupt, 16000)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(InputError, match="cannot decode"):
        read_audio(text, 16000)
    header_only = tmp_path / "header.wav"
    write_pcm(header_only, np.zeros(0, np.float32), 16000)
    with pytest.raises(InputError, match="no samples"):
        read_audio(header_only, 16000)


def test_write_wav_round_trip(tmp_path):
    x = tone(24000, 0.5)
    write_wav(tmp_path / "o.wav", x, 24000)
    a = read_audio(tmp_path / "o.wav", 24000)
    assert np.allclose(a.samples, x, atol=1e-3)


def _turn(end_s: float, t_end: float) -> Turn:
    return Turn(id=1, speech_start=0, speech_end=int(end_s * 16000), t_speech_end=t_end, sample_rate=16000)


def test_timeline_places_reply_after_speech_end_plus_delay_without_overlap():
    tl = Timeline(16000)
    turn = _turn(2.0, t_end=100.0)
    a = ReplyAudio(turn=turn, samples=np.ones(8000, np.float32) * 0.1, sample_rate=16000, sentence=0, t=100.5)
    b = ReplyAudio(turn=turn, samples=np.ones(8000, np.float32) * 0.2, sample_rate=16000, sentence=1, t=100.6)
    assert tl.place(a) == 40000   # 2.0 s + 0.5 s
    assert tl.place(b) == 48000   # follows a, though it was ready at 2.6 s
    late = ReplyAudio(turn=turn, samples=np.ones(1600, np.float32), sample_rate=16000, sentence=2, t=104.0)
    assert tl.place(late) == 96000  # ready at 6.0 s: a gap, as a speaker would leave
    out = tl.render(16000 * 10)
    assert len(out) == 160000 and out[39999] == 0 and out[40000] == pytest.approx(0.1)


def test_timeline_resamples_to_output_rate():
    tl = Timeline(44100)
    turn = _turn(1.0, t_end=10.0)
    start = tl.place(ReplyAudio(turn=turn, samples=tone(22050, 1.0), sample_rate=22050, sentence=0, t=10.25))
    assert start == round(1.25 * 44100)
    tl.end_turn(turn)
    assert abs(tl.cursor - start - 44100) < 200
