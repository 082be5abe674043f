"""The on-demand tier: a vision-language model answers a question about a frame.

Any `image-text-to-text` model transformers can load (SmolVLM / Idefics3, LLaVA, Qwen2-VL,
moondream-class models with their processors), by hub id or local folder. No VLM weights ship in
any package reachable here: a user with a network names a hub id once (it is cached), or a
folder. torch and transformers are an extra (`pip install 'omni[vlm]'`); the voice path never
imports them.

`stream()` is a blocking generator meant for a worker thread: generation runs in a thread of its
own and hands text through transformers' streamer; closing the generator (the user interrupted,
the question was abandoned) stops generation at its next token.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omni.errors import ModelNotFoundError, ServiceError
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


class VlmOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    """Hub id (e.g. HuggingFaceTB/SmolVLM-256M-Instruct) or a local folder saved by save_pretrained."""
    max_new_tokens: int = Field(60, ge=1, le=1024)
    threads: int = Field(2, ge=1, le=64)
    max_side: int = Field(512, ge=32, le=4096)
    """Frames are scaled down to this long side before the processor sees them."""
    system_prompt: str = "Answer in one or two short spoken sentences, without lists or markdown."


class Vlm:
    def __init__(self, opts: VlmOptions) -> None:
        self.opts = opts
        self.processor: Any = None
        self.model: Any = None

    def load(self, progress: ProgressFn) -> None:
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as e:
            raise ModelNotFoundError("a vision-language model needs torch and transformers",
                                     hint="pip install 'omni[vlm]' (torch==2.13.0, the CPU build)") from e
        from omni.models.catalog import hub_error, resolve

        where = resolve("vlm", self.opts.model, progress)
        progress(f"loading the vision-language model {self.opts.model}", None)
        torch.set_num_threads(self.opts.threads)
        def load(local_only: bool) -> None:
            self.processor = AutoProcessor.from_pretrained(where.location, local_files_only=local_only)
            self.model = AutoModelForImageTextToText.from_pretrained(where.location, dtype=torch.float32,
                                                                     local_files_only=local_only)

        try:
            # a hub id already in the local cache loads without the network; offline, transformers
            # would otherwise retry the hub for minutes before saying so
            load(local_only=True)
        except (OSError, ValueError) as e:
            if where.kind != "hub":
                raise ModelNotFoundError(f"cannot load the vision-language model {where.location}: {e}",
                                         hint="give a folder saved by save_pretrained (config, weights, "
                                              "processor files)") from e
            if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
                raise hub_error("vlm", self.opts.model, e) from e
            try:
                load(local_only=False)
            except (OSError, ValueError) as e2:
                raise hub_error("vlm", self.opts.model, e2) from e2
        self.model.eval()
        log.info("VLM %s loaded (%s)", self.opts.model, type(self.model).__name__)

    def _inputs(self, image_bgr: np.ndarray, question: str) -> Any:
        import cv2
        from PIL import Image

        h, w = image_bgr.shape[:2]
        f = min(1.0, self.opts.max_side / max(h, w))
        if f < 1:
            image_bgr = cv2.resize(image_bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        image = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1]))
        messages = [{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": f"{self.opts.system_prompt} {question}".strip()}]}]
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        return self.processor(text=prompt, images=[image], return_tensors="pt")

    def stream(self, image_bgr: np.ndarray, question: str) -> Iterator[str]:
        """The answer's text as it is generated (blocking: iterate it in a worker thread)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        if self.model is None:
            raise ServiceError("the vision-language model is not loaded")
        stop = threading.Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

        inputs = self._inputs(image_bgr, question)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=60)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, max_new_tokens=self.opts.max_new_tokens, do_sample=False,
                                        streamer=streamer, stopping_criteria=StoppingCriteriaList([_Stop()]))
            except BaseException as e:  # handed to the reader below
                failure.append(e)
                streamer.end()

        thread = threading.Thread(target=generate, name="vlm-generate", daemon=True)
        thread.start()
        try:
            for text in streamer:
                if text:
                    yield text
            if failure:
                raise ServiceError(f"the vision-language model failed: {failure[0]}") from failure[0]
        finally:
            stop.set()  # closed early: generation ends at its next token
            thread.join()

    def answer(self, image_bgr: np.ndarray, question: str) -> str:
        return "".join(self.stream(image_bgr, question)).strip()

    def close(self) -> None:
        self.model = None
        self.processor = None
