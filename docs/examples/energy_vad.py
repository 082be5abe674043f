"""A voice-activity engine of your own: loudness instead of a model (omni/engines/base.py:
VoiceActivity). In a pipeline file, on the VAD stage:

    options: {engine: "energy_vad:EnergyVad", engine_options: {speech_dbfs: -40}, end_of_turn: null}

It is a poor VAD (any noise is "speech"), but it shows the whole interface: `load`, `window`,
`reset`, `probs`, `capabilities`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities


class EnergyVad:
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)
    window = 512
    """16 kHz samples per step, as Silero's."""

    def __init__(self, speech_dbfs: float) -> None:
        self.speech_dbfs = speech_dbfs

    @classmethod
    def load(cls, options: Any, progress: Any) -> EnergyVad:
        progress("energy VAD: no model to load", None)
        return cls(speech_dbfs=float(options.engine_options.get("speech_dbfs", -40.0)))

    def reset(self) -> None:
        pass

    def probs(self, windows: np.ndarray) -> np.ndarray:
        dbfs = 10 * np.log10(np.mean(np.square(windows), axis=1) + 1e-12)
        # 0 at 10 dB below the threshold, 1 at 10 dB above it
        return np.clip((dbfs - self.speech_dbfs + 10) / 20, 0.0, 1.0).astype(np.float32)

    def close(self) -> None:
        pass
