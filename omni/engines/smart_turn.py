"""Smart Turn v3 end-of-turn model (Whisper-encoder classifier, ONNX) run with onnxruntime.

It hears the last 8 s of the user's audio and says how likely the user has finished their turn,
from intonation and words together. Its input is Whisper's log-mel spectrogram of 8 s of 16 kHz
audio (zero-padded at the front, waveform normalised to zero mean and unit variance), which
faster-whisper's numpy feature extractor computes; no torch, no transformers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities
from omni.errors import ModelNotFoundError

RATE = 16000
WINDOW_S = 8
FRAMES = WINDOW_S * RATE // 160  # 800 mel frames


class SmartTurn:
    """predict(audio) -> probability that the turn is complete. Blocking: call from a worker."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=False)

    @classmethod
    def load(cls, options: Any, progress: Any) -> SmartTurn:
        """options.model: a bundled name or a path to the ONNX file; warmed up once."""
        from omni.models import resolve

        res = resolve("turn", options.model, progress)
        progress(f"loading end-of-turn model {res.spec}", None)
        try:
            self = cls(res.location)
        except Exception as e:
            raise ModelNotFoundError(f"cannot load end-of-turn model {res.location}: {e}") from e
        self.predict(np.zeros(RATE, np.float32))  # warm-up
        return self

    def close(self) -> None:
        self.session = None

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if "input_features" not in inputs:
            raise ValueError(f"{path} is not a Smart Turn v3 model (inputs {sorted(inputs)})")
        self._features = FeatureExtractor(feature_size=80)

    def features(self, audio: np.ndarray) -> np.ndarray:
        n = WINDOW_S * RATE
        x = audio[-n:].astype(np.float32, copy=False)
        if len(x) < n:
            x = np.pad(x, (n - len(x), 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        return self._features(x, padding=0)[:, :FRAMES].astype(np.float32)

    def predict(self, audio: np.ndarray) -> float:
        out = self.session.run(None, {"input_features": self.features(audio)[None]})[0]
        return float(np.asarray(out).reshape(-1)[0])
