#!/usr/bin/env python3
"""Voices that are not the assistant's, for the tests: espeak-ng (Debian's `espeak-ng`) saying
what the tests need in four voices, 16 kHz mono, committed beside this file so the tests need
no synthesiser. Run again (`python tests/voices/make.py`) only to change them; manifest.json
says what each file holds.

Real people's recordings come from the real-speech set (bench/devset.py, fetched by set-up)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from omni.audio import read_audio, write_wav  # noqa: E402

VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland")
# name: text (a sentence cut in two halves where a user would pause in mid-phrase)
LINES = {
    "hey": "Hey Jarvis, what time is it?",
    "about_the": "I would like to know about the",
    "weather": "weather in Paris tomorrow.",
    "yeah": "Yeah.",
    "capital_of": "What is the capital of",
    "france": "France?",
    "joke_about": "Tell me a joke about",
    "cats": "cats.",
    # whole turns whose replies the tests judge (tests/test_replies.py)
    "italy": "What is the capital of Italy?",
    "sea": "My sister just moved to a little flat by the sea.",
    "television": "Please turn on the television.",
}
RATE = 16000
# single files in a voice of their own: name -> (text, espeak voice, words a minute, sox effect)
LOW = {
    # a low voice tiny.en hears as no speech on a short window (tests/test_models.py)
    "listening-en-us-m7-low": ("Are you listening?", "en-us+m7", 140, ["pitch", "-300"]),
}


def espeak(text: str, voice: str, wpm: int = 160, sox: list[str] | None = None) -> "object":
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "e.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)
        if sox:
            low = Path(d) / "low.wav"
            subprocess.run(["sox", str(out), "-t", "wavpcm", str(low), *sox], check=True)
            out = low
        return read_audio(out, RATE).samples * 0.8


def main(remake: bool = False) -> None:
    """Speak the lines whose files are missing (all of them with `remake`: espeak-ng's version
    moves the audio, and with it what the tests on the existing files measured)."""
    manifest = []
    for name, text in LINES.items():
        for voice in VOICES:
            file = f"{name}-{voice.replace('+', '-')}.wav"
            if remake or not (HERE / file).exists():
                write_wav(HERE / file, espeak(text, voice), RATE)
            manifest.append({"file": file, "text": text, "voice": f"espeak-ng {voice}", "words_per_minute": 160})
    for name, (text, voice, wpm, sox) in LOW.items():
        file = f"{name}.wav"
        if remake or not (HERE / file).exists():  # as the quality set makes it: trimmed, peak 0.7
            a = espeak(text, voice, wpm, sox)
            loud = np.flatnonzero(np.abs(a) > 0.01)
            write_wav(HERE / file, a[loud[0]: loud[-1] + 1] / np.max(np.abs(a)) * 0.7, RATE)
        manifest.append({"file": file, "text": text, "voice": f"espeak-ng {voice}, sox {' '.join(sox)}",
                         "words_per_minute": wpm})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(remake="--all" in sys.argv)
