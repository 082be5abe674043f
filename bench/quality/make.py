#!/usr/bin/env python3
"""Speak the quality set (bench/quality/items.yaml) into the model cache, one wav per item.

    python bench/quality/make.py [--all]

Each item is spoken by one of the set's voices, in turn (item i by voice i mod n, so every kind
of utterance meets several voices); the visual items by each of their voices. espeak-ng and sox
are Debian's; piper is the bundled voice at other speeds (the assistant's own voice at 1.0 is
not used), its own noise seeded per item. Noise is seeded pink noise at the voice's SNR. Files
that exist are kept unless --all. Writes `$OMNI_CACHE_DIR/quality/manifest.json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from omni.models.cache import cache_dir  # noqa: E402

ITEMS = Path(__file__).resolve().parent / "items.yaml"
RATE = 16000


def out_dir() -> Path:
    return cache_dir() / "quality"


def load_items() -> dict:
    return yaml.safe_load(ITEMS.read_text())


def assignments(spec: dict) -> list[dict]:
    """Every utterance of the set: item fields plus `voice` and `file`."""
    names = list(spec["voices"])
    rows = []
    voice_of: dict[str, str] = {}
    for i, it in enumerate(spec["items"]):
        # a follow-up is said by the voice of the item it refers to (the same conversation)
        v = voice_of[it["after"]] if it.get("after") else names[i % len(names)]
        voice_of[it["id"]] = v
        rows.append({**it, "voice": v, "file": f"{it['id']}-{v}.wav"})
    for v in spec["visual"]["voices"]:
        for it in spec["visual"]["items"]:
            rows.append({**it, "kind": "visual", "voice": v, "file": f"{it['id']}-{v}.wav"})
    return rows


class Speaker:
    def __init__(self) -> None:
        self._piper = None

    def piper(self, text: str, scale: float) -> np.ndarray:
        from piper import PiperVoice, SynthesisConfig

        from omni.audio import resample
        from omni.models import resolve

        # piper's noise comes from onnxruntime's random kernels, seeded when a session is made
        # (by default from the clock): a session per item, seeded from its words and speed, makes
        # the item the same audio on every machine and whichever files are remade
        import zlib

        import onnxruntime

        onnxruntime.set_seed(zlib.crc32(f"{text}|{scale}".encode()) & 0x7FFFFFFF)
        p = resolve("tts", "joe").location
        self._piper = PiperVoice.load(p, config_path=p + ".json")
        cfg = SynthesisConfig(length_scale=scale, noise_scale=0.667, noise_w_scale=0.8)
        a = np.concatenate([c.audio_float_array for c in self._piper.synthesize(text, syn_config=cfg)])
        return resample(a.astype(np.float32), self._piper.config.sample_rate, RATE)

    def espeak(self, text: str, voice: str, wpm: int) -> np.ndarray:
        from omni.audio import read_audio

        if shutil.which("espeak-ng") is None:
            raise SystemExit("espeak-ng is missing: make bench-setup (or apt-get install espeak-ng sox)")
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "e.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)
            return read_audio(out, RATE).samples

    def speak(self, text: str, v: dict, seed: int) -> np.ndarray:
        from omni.audio import read_audio, write_wav

        a = self.piper(text, v.get("length_scale", 1.0)) if v["engine"] == "piper" else \
            self.espeak(text, v["voice"], v.get("wpm", 160))
        if v.get("sox"):
            if shutil.which("sox") is None:
                raise SystemExit("sox is missing: make bench-setup (or apt-get install sox)")
            with tempfile.TemporaryDirectory() as d:
                src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
                write_wav(src, a, RATE)
                subprocess.run(["sox", str(src), "-t", "wavpcm", str(dst), *v["sox"]], check=True)
                a = read_audio(dst, RATE).samples
        loud = np.flatnonzero(np.abs(a) > 0.01)
        a = a[loud[0]: loud[-1] + 1] if len(loud) else a
        a = a / max(1e-6, float(np.max(np.abs(a)))) * 0.7
        if v.get("noise_snr_db") is not None:
            from make_corpus import _noise

            pad = np.zeros(RATE // 2, np.float32)
            a = np.concatenate([pad, a, pad])
            speech_rms = float(np.sqrt(np.mean(a[a != 0] ** 2)))
            a = a + _noise(len(a), "pink", seed) * speech_rms * 10 ** (-v["noise_snr_db"] / 20)
        return a.astype(np.float32)


def make(remake: bool = False) -> Path:
    from omni.audio import read_audio, write_wav

    spec = load_items()
    d = out_dir()
    d.mkdir(parents=True, exist_ok=True)
    sp = Speaker()
    rows = assignments(spec)
    for i, r in enumerate(rows):
        p = d / r["file"]
        if remake or not p.exists():
            write_wav(p, sp.speak(r["text"], spec["voices"][r["voice"]], seed=i), RATE)
        r["seconds"] = round(read_audio(p, RATE).seconds, 2)
    (d / "manifest.json").write_text(json.dumps(rows, indent=1) + "\n")
    return d


def manifest() -> list[dict]:
    p = out_dir() / "manifest.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: run `make bench-setup` (or python bench/quality/make.py)")
    return json.loads(p.read_text())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="remake the files that exist too")
    a = ap.parse_args()
    d = make(a.all)
    rows = manifest()
    print(f"{len(rows)} utterances in {len({r['voice'] for r in rows})} voices in {d}")
