"""`python launch.py prepare`: put the bundled models where a run finds them, once."""

from __future__ import annotations

import time

from rich.console import Console

from omni.config import load_pipeline
from omni.config.loader import PIPELINES_DIR
from omni.models import cache_dir, resolve

ROLES = {"vad.silero": ("vad", "model"), "stt.whisper": ("stt", "model"),
         "llm.local": ("llm", "model"), "tts.piper": ("tts", "voice")}


def prepare() -> int:
    """Resolve every model the pipeline files name (assembling split ones into the cache)."""
    console = Console(highlight=False)
    print(f"model cache: {cache_dir()}", flush=True)
    seen = set()
    for path in sorted(PIPELINES_DIR.glob("*.yaml")):
        cfg = load_pipeline(str(path))
        for st in cfg.stages:
            if st.kind not in ROLES:
                continue
            role, key = ROLES[st.kind]
            spec = st.options.get(key)
            if spec is None or (role, spec) in seen:
                continue
            seen.add((role, spec))
            t0 = time.monotonic()
            last = [0.0]

            def progress(desc: str, frac: float | None) -> None:
                if frac is not None and frac - last[0] >= 0.25:
                    last[0] = frac
                    console.print(f"  {desc}: {frac * 100:.0f}%")

            res = resolve(role, str(spec), progress)
            print(f"{role:4} {spec}: {res.location} ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0
