"""Chat backends behind one streaming interface; the pipeline file picks them by `type`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from omni.dialogue.backends.base import BackendOptions, ChatBackend, Price
from omni.dialogue.backends.local import LlamaBackend, LlamaBackendOptions
from omni.dialogue.backends.openai_compat import OpenAIBackend, OpenAIBackendOptions

AnyBackendOptions = Annotated[LlamaBackendOptions | OpenAIBackendOptions, Field(discriminator="type")]


def make_backend(name: str, options: BackendOptions) -> ChatBackend:
    if isinstance(options, LlamaBackendOptions):
        return LlamaBackend(name, options)
    if isinstance(options, OpenAIBackendOptions):
        return OpenAIBackend(name, options)
    raise TypeError(f"no backend for {type(options).__name__}")


__all__ = ["AnyBackendOptions", "BackendOptions", "ChatBackend", "LlamaBackend", "LlamaBackendOptions",
           "OpenAIBackend", "OpenAIBackendOptions", "Price", "make_backend"]
