"""microWakeWord (tflite, 16 kHz, 10 ms steps; models ship in pymicro-wakeword) as a wake-word engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities
from omni.errors import ModelNotFoundError
from omni.models import resolve
from omni.runtime.stage import ProgressFn

STEP = 320  # 10 ms of 16-bit samples at 16 kHz


class MicroWakeWordDetector:
    """Options (the wake stage's): model, a bundled name (hey_jarvis, alexa, okay_nabu,
    hey_mycroft) or the path of a microWakeWord .json (its .tflite beside it)."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)

    def __init__(self, detector: Any, features: Any, config: Path | None = None) -> None:
        self.config = config
        self.detector = detector
        self.features = features
        self.phrase: str = detector.wake_word
        self.cutoff: float = detector.probability_cutoff

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> MicroWakeWordDetector:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        res = resolve("wake", options.model, progress)
        cfg_path = Path(res.location)
        if res.kind == "hub" or cfg_path.suffix != ".json":
            raise ModelNotFoundError(f"wake word model {options.model!r}: expected a bundled name or a "
                                     "microWakeWord .json file", hint="bundled: hey_jarvis, alexa, okay_nabu, hey_mycroft")
        progress(f"loading wake word {options.model}", None)
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("type") != "micro":
            raise ModelNotFoundError(f"{cfg_path}: not a microWakeWord model config")
        return cls(MicroWakeWord.from_config(cfg_path), MicroWakeWordFeatures(), cfg_path)

    def fork(self) -> MicroWakeWordDetector:
        """A stream of its own for one session. The detector's state lives inside its tflite
        interpreter, so a fork makes another from the same config (~0.4 ms: the model is small)."""
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        if self.config is None:
            raise ModelNotFoundError("this wake word detector was not loaded from a config: it cannot fork")
        return MicroWakeWordDetector(MicroWakeWord.from_config(self.config), MicroWakeWordFeatures(), self.config)

    def detect(self, samples: np.ndarray, threshold: float) -> tuple[float, int | None]:
        """(best probability in this chunk, sample offset of the detection or None): 10 ms steps
        through the feature extractor and the detector."""
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        best, hit = 0.0, None
        for i in range(0, len(pcm), STEP):
            for feats in self.features.process_streaming(pcm[i:i + STEP]):
                p = self.detector.process_streaming_prob(feats)
                if p is None:
                    continue
                best = max(best, p)
                if hit is None and p > threshold:
                    hit = min(len(pcm), i + STEP) // 2
        if hit is not None:
            self.detector.reset()  # one detection per utterance of the phrase
        return best, hit

    def close(self) -> None:
        self.detector = None
