"""Reading, converting and writing audio files."""

from __future__ import annotations

import io
import logging
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from omni.errors import InputError
from omni.files import atomic_path

log = logging.getLogger(__name__)

MAX_SECONDS = 4 * 3600
RATES = (1000, 768000)
"""Sample rates a file may declare (Hz); a header outside them is corrupt."""


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file, converted to mono float32 at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    source_channels: int
    path: Path

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def read_audio(path: str | Path, sample_rate: int) -> DecodedAudio:
    """Decode any common audio file (WAV PCM/float, FLAC, MP3, OGG, ...), mix to mono and
    resample to `sample_rate`. Raises InputError with a clear message on bad input."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"audio file not found: {p}")
    if not p.is_file():
        raise InputError(f"not a file: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"audio file is empty (0 bytes): {p}")
    try:
        samples, rate, channels = _read_wav(p)
    except InputError:
        raise
    except Exception as e:  # not a plain PCM WAV (or a broken one): let ffmpeg try, it says why
        samples, rate, channels = _read_av(p, wav_error=e if _is_riff(p) else None)
    if not RATES[0] <= rate <= RATES[1]:
        raise InputError(f"{p}: invalid header: a sample rate of {rate} Hz",
                         hint=f"a real recording is {RATES[0]}-{RATES[1]} Hz; re-export the file")
    if samples.size == 0:
        raise InputError(f"audio file has no samples: {p}")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"audio file has NaN or infinite samples: {p}")
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.clip(mono.astype(np.float32, copy=False), -1.0, 1.0)
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    if mono.size == 0:  # a frame or two: nothing once at the pipeline's rate
        raise InputError(f"audio file is too short to hear anything ({samples.shape[0]} frames at {rate} Hz): {p}")
    return DecodedAudio(mono, sample_rate, rate, channels, p)


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x.astype(np.float32, copy=False), from_rate, to_rate, quality="HQ")


def _read_wav(p: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(p), "rb") as wf:
        ch, width, rate, n = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
        if not RATES[0] <= rate <= RATES[1] or ch <= 0:
            raise InputError(f"{p}: invalid WAV header (rate {rate} Hz, channels {ch})",
                             hint=f"a real recording is {RATES[0]}-{RATES[1]} Hz; re-export the file")
        if n > MAX_SECONDS * rate:
            raise InputError(f"{p}: longer than {MAX_SECONDS // 3600} hours; split it first")
        raw = wf.readframes(n)
    if len(raw) < n * width * ch:
        raise InputError(f"{p}: truncated: its header promises {n / rate:.1f} s of audio, the file holds "
                         f"{len(raw) // (width * ch) / rate:.1f} s",
                         hint="the file was cut off (a copy or a recording that stopped early); "
                              "export it again")
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        i = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        i = np.where(i >= 1 << 23, i - (1 << 24), i)
        x = i.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"sample width {width}")
    usable = len(x) - len(x) % ch
    return x[:usable].reshape(-1, ch) if ch > 1 else x[:usable], rate, ch


def _is_riff(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _read_av(p: Path, wav_error: Exception | None = None) -> tuple[np.ndarray, int, int]:
    """Decode with ffmpeg. `wav_error`: why Python's wave module refused a file that says it is a
    WAV (told to the user when ffmpeg cannot read it either; ffmpeg's own words on a broken WAV
    header say little)."""
    import av  # shipped with faster-whisper; decodes what ffmpeg decodes

    try:
        with av.open(str(p), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(f"{p}: no audio stream in this file")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate
            channels = stream.codec_context.channels or 1
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except InputError:
        raise
    except Exception as e:  # av.error.* and friends
        if wav_error is not None:
            raise InputError(f"cannot decode {p}: a WAV file with a broken header ({wav_error})",
                             hint="export it again as 16-bit PCM WAV (or FLAC, MP3, OGG)") from e
        raise InputError(f"cannot decode {p} as audio: {e}",
                         hint="use WAV, FLAC, MP3 or OGG; check the file is not truncated") from e
    x = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return x, int(rate), int(channels)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM WAV (plain WAVE_FORMAT_PCM, readable by Python's wave)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(p) as tmp, wave.open(str(tmp), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes(pcm.tobytes())


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Mono 16-bit PCM WAV in memory (a chunk for the network)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
    return buf.getvalue()


CHUNK_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


def decode_wav_chunk(data: bytes) -> tuple[np.ndarray, int]:
    """A WAV chunk from the network (16-bit PCM, mono or stereo, a common rate) as mono float32.
    Anything else raises InputError saying what was wrong."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError("audio chunk is not a WAV file (expected a RIFF/WAVE header, 16-bit PCM)")
    try:
        with wave.open(io.BytesIO(data), "rb") as wf:
            ch, width, rate = wf.getnchannels(), wf.getsampwidth(), wf.getframerate()
            raw = wf.readframes(wf.getnframes())
    except (wave.Error, EOFError, RuntimeError, ValueError, struct.error) as e:  # the wave module's many
        raise InputError(f"audio chunk is not readable WAV: {str(e) or 'its chunk sizes do not add up'}") from None
    if width != 2 or ch not in (1, 2) or rate not in CHUNK_RATES:
        raise InputError(f"audio chunk format not supported: {ch} channel(s), {8 * width}-bit, {rate} Hz",
                         hint=f"send 16-bit PCM, mono or stereo, at one of {CHUNK_RATES} Hz")
    x = np.frombuffer(raw[:len(raw) - len(raw) % (2 * ch)], "<i2").astype(np.float32) / 32768.0
    if ch == 2:
        x = x.reshape(-1, 2).mean(axis=1)
    return x, rate
