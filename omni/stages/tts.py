"""Text to speech with piper (ONNX through onnxruntime: no torch), streamed per sentence."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.errors import ModelNotFoundError
from omni.frames import Frame, ReplyAudio, ReplySentence
from omni.models import resolve
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch, Worker
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


class PiperOptions(StageOptions):
    voice: str = "joe"
    """Bundled voice name, or a path to a piper .onnx voice (its .onnx.json beside it)."""
    length_scale: float | None = Field(None, gt=0.1, lt=5)
    """Speaking rate: below 1 is faster."""
    volume: float = Field(1.0, gt=0, le=4)
    speaker_id: int | None = None
    threads: int = Field(2, ge=1, le=64)
    """onnxruntime threads. 1 leaves a core to the LLM while it generates the next sentence;
    on 2 cores the bench showed no gain in V2V from it (first audio slower, 113 -> 161 ms)."""


class PiperTTS(Processor):
    """ReplySentence -> ReplyAudio chunks; ReplyDone passes on after the turn's last audio."""

    Options = PiperOptions
    options: PiperOptions
    handles = (ReplySentence,)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=32)
    live_options: ClassVar[frozenset[str]] = frozenset({"length_scale", "volume"})

    def __init__(self, name: str, options: PiperOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._worker = Worker(f"{name}-piper")
        self._voice: Any = None
        self._syn: Any = None
        self.sample_rate = 22050

    async def load(self, progress: ProgressFn) -> None:
        from piper import SynthesisConfig

        o = self.options
        res = resolve("tts", o.voice, progress)
        if res.kind == "hub":
            raise ModelNotFoundError(f"piper voices load from files, not hub ids: {o.voice!r}",
                                     hint="download the voice's .onnx and .onnx.json and give the path")
        model = Path(res.location)
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise ModelNotFoundError(f"piper voice config not found: {config}",
                                     hint="a piper voice is two files: NAME.onnx and NAME.onnx.json")
        progress(f"loading voice {res.spec}", None)
        self._voice = await self._worker.call(_load_voice, model, config, o.threads)
        self.sample_rate = self._voice.config.sample_rate
        self._syn = SynthesisConfig(length_scale=o.length_scale, volume=o.volume, speaker_id=o.speaker_id)
        await self._worker.call(lambda: list(self.synthesize("Ready.")))  # warm-up

    def options_changed(self) -> None:
        if self._syn is not None:
            o = self.options
            self._syn = type(self._syn)(length_scale=o.length_scale, volume=o.volume, speaker_id=o.speaker_id)

    async def aclose(self) -> None:
        self._worker.shutdown()

    def synthesize(self, text: str, urgent: bool = False) -> Iterator[np.ndarray]:
        """Blocking generator of audio chunks; `urgent` (the first sentence) takes CPU priority."""
        chunks = iter(self._voice.synthesize(text, syn_config=self._syn))
        while True:
            with self.cpu.urgent() if urgent else contextlib.nullcontext():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk.audio_float_array.astype(np.float32, copy=False)

    async def process(self, frame: ReplySentence) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        first = True
        stream = self._worker.stream(lambda: self.synthesize(frame.text, urgent=frame.index == 0), buffer=4)
        async with contextlib.aclosing(stream):
            async for audio in stream:
                if first and frame.index == 0:
                    self.report(frame.turn, sw.ms, chars=len(frame.text))
                first = False
                yield ReplyAudio(turn=frame.turn, samples=audio, sample_rate=self.sample_rate,
                                 sentence=frame.index, text=frame.text)


def _load_voice(model: Path, config: Path, threads: int) -> Any:
    """A PiperVoice with its onnxruntime session limited to `threads`."""
    import json

    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    cfg = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=cfg)
