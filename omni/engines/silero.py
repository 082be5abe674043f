"""Silero VAD (ONNX through onnxruntime: no torch) as a voice-activity engine, streaming 512-sample
windows at 16 kHz."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities
from omni.errors import ModelNotFoundError
from omni.models import resolve
from omni.runtime.stage import ProgressFn

WINDOW = 512   # samples at 16 kHz per Silero step
CONTEXT = 64   # samples of the previous window the model sees


class SileroVad:
    """Feed 512-sample windows, get one probability each (v5 and v6 layouts both work)."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)
    window = WINDOW

    def __init__(self, path: str, session: object | None = None, layout: str = "") -> None:
        if session is not None:  # a fork: the same model, a stream of its own
            self.session, self.layout = session, layout
            self.reset()
            return
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)
        names = {i.name for i in self.session.get_inputs()}
        if {"input", "h", "c"} <= names:
            self.layout = "hc"
        elif {"input", "state", "sr"} <= names:
            self.layout = "state"
        else:
            raise ModelNotFoundError(f"{path} is not a Silero VAD model (inputs {sorted(names)})")
        self.reset()

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> SileroVad:
        """options.model: a bundled name or a path to a Silero VAD ONNX file."""
        res = resolve("vad", options.model, progress)
        progress(f"loading VAD {res.spec}", None)
        return cls(res.location)

    def fork(self) -> SileroVad:
        """A stream of its own (fresh state) on the same loaded model: one per session. Its
        calls must still be serialised with the others' (one worker thread)."""
        return SileroVad("", self.session, self.layout)

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)
        self.state = np.zeros((2, 1, 128), np.float32)
        self.context = np.zeros((1, CONTEXT), np.float32)

    def probs(self, windows: np.ndarray) -> np.ndarray:
        out = np.empty(len(windows), np.float32)
        for i, w in enumerate(windows):
            x = np.concatenate([self.context, w[None, :]], axis=1)
            self.context = x[:, -CONTEXT:]
            if self.layout == "hc":
                p, self.h, self.c = self.session.run(None, {"input": x, "h": self.h, "c": self.c})
            else:
                p, self.state = self.session.run(
                    None, {"input": x, "state": self.state, "sr": np.array(16000, np.int64)})
            out[i] = float(np.asarray(p).reshape(-1)[0])
        return out

    def close(self) -> None:
        self.session = None
