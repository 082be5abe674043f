"""piper (ONNX through onnxruntime: no torch) as a TTS engine: a sentence in, audio chunks out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities
from omni.errors import ModelNotFoundError
from omni.models import resolve
from omni.runtime.stage import ProgressFn


class PiperVoice:
    """Options (the TTS stage's): voice, length_scale, volume, speaker_id, threads."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)
    """piper yields audio per phrase of a sentence, as it makes it."""

    def __init__(self, voice: Any, options: Any) -> None:
        self.voice = voice
        self.sample_rate: int = voice.config.sample_rate
        self._syn: Any = None
        self.configure(options)

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> PiperVoice:
        res = resolve("tts", options.voice, progress)
        if res.kind == "hub":
            raise ModelNotFoundError(f"piper voices load from files, not hub ids: {options.voice!r}",
                                     hint="download the voice's .onnx and .onnx.json and give the path")
        model = Path(res.location)
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise ModelNotFoundError(f"piper voice config not found: {config}",
                                     hint="a piper voice is two files: NAME.onnx and NAME.onnx.json")
        progress(f"loading voice {res.spec}", None)
        self = cls(_load_voice(model, config, options.threads), options)
        for _ in self.synthesize("Ready."):  # warm-up
            pass
        return self

    def configure(self, options: Any) -> None:
        from piper import SynthesisConfig

        self._syn = SynthesisConfig(length_scale=options.length_scale, volume=options.volume,
                                    speaker_id=options.speaker_id)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for chunk in self.voice.synthesize(text, syn_config=self._syn):
            yield chunk.audio_float_array.astype(np.float32, copy=False)

    def close(self) -> None:
        self.voice = None


def _load_voice(model: Path, config: Path, threads: int) -> Any:
    """A piper PiperVoice with its onnxruntime session limited to `threads`."""
    import onnxruntime as ort
    from piper import PiperVoice as Voice
    from piper.config import PiperConfig

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    cfg = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
    return Voice(session=session, config=cfg)
