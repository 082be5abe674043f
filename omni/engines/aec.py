"""Echo cancellation engines, both maintained on PyPI and both without torch:
- `webrtc` (default): WebRTC's AEC3 through LiveKit's `AudioProcessingModule` (binary wheel);
- `speex`: speexdsp's echo canceller through `pyaec` (`pip install 'omni[speex]'`).
Both work on 10 ms frames of 16 kHz int16 audio."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities
from omni.errors import ModelNotFoundError
from omni.runtime.stage import ProgressFn

RATE = 16000
FRAME = 160  # 10 ms


class WebRtcAec:
    """Options (the echo stage's): delay_ms, noise_suppression."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)
    frame = FRAME

    def __init__(self, opts: Any) -> None:
        from livekit import rtc

        self._rtc = rtc
        self.apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=opts.noise_suppression,
                                             high_pass_filter=True)
        self.delay = opts.delay_ms

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> WebRtcAec:
        progress("loading echo canceller (webrtc)", None)
        return cls(options)

    def process(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        rtc = self._rtc
        f = rtc.AudioFrame(far.tobytes(), RATE, 1, FRAME)
        self.apm.process_reverse_stream(f)
        m = rtc.AudioFrame(mic.tobytes(), RATE, 1, FRAME)
        self.apm.set_stream_delay_ms(self.delay)
        self.apm.process_stream(m)
        return np.frombuffer(m.data, np.int16)

    def close(self) -> None:
        self.apm = None


class SpeexAec:
    """Options (the echo stage's): tail_ms."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)
    frame = FRAME

    def __init__(self, opts: Any) -> None:
        try:
            import pyaec
        except ImportError as e:
            raise ModelNotFoundError("the speex echo canceller needs pyaec",
                                     hint="pip install 'omni[speex]', or use engine: webrtc") from e
        self.aec = pyaec.Aec(FRAME, opts.tail_ms * RATE // 1000, RATE, False)

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> SpeexAec:
        progress("loading echo canceller (speex)", None)
        return cls(options)

    def process(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        return np.asarray(self.aec.cancel_echo(mic.tolist(), far.tolist()), np.int16)

    def close(self) -> None:
        self.aec = None
