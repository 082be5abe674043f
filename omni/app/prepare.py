"""`python launch.py prepare`: put the bundled models where a run finds them, once."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from omni.config import load_pipeline
from omni.config.loader import PIPELINES_DIR
from omni.models import cache_dir, resolve

ROLES = {"vad.silero": ("vad", "model"), "stt.whisper": ("stt", "model"), "tts.piper": ("tts", "voice")}


def models_of(kind: str, options: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, spec) of every model a stage's options name."""
    if kind in ROLES:
        role, key = ROLES[kind]
        return [(role, str(options[key]))] if options.get(key) is not None else []
    if kind == "dialogue":  # defaults come from the stage's own options model
        from omni.dialogue.backends import LlamaBackendOptions
        from omni.stages.dialogue import DialogueOptions

        o = DialogueOptions.model_validate(options)
        out = [("llm", b.model) for b in o.backends.values() if isinstance(b, LlamaBackendOptions)]
        return out + ([("embed", o.intents.model)] if o.intents.enabled else [])
    return []


def prepare() -> int:
    """Resolve every model the pipeline files name (assembling split ones into the cache)."""
    console = Console(highlight=False)
    print(f"model cache: {cache_dir()}", flush=True)
    seen = set()
    for path in sorted(PIPELINES_DIR.glob("*.yaml")):
        cfg = load_pipeline(str(path))
        for role, spec in (m for st in cfg.stages for m in models_of(st.kind, st.options)):
            if (role, spec) in seen:
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
