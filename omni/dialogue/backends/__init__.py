"""Chat backends behind one streaming interface; the pipeline file picks them by `type`."""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Literal

from pydantic import Field

from omni.dialogue.backends.base import BackendOptions, ChatBackend, Price
from omni.dialogue.backends.local import LlamaBackend, LlamaBackendOptions
from omni.dialogue.backends.openai_compat import OpenAIBackend, OpenAIBackendOptions

from omni.errors import ConfigError


class CustomBackendOptions(BackendOptions):
    """A chat backend of your own: a ChatBackend subclass named `package.module:Class`, made as
    `Class(name, options)`; its own settings go in `settings` (docs/extending.md)."""

    type: Literal["custom"] = "custom"
    cls: str
    settings: dict[str, Any] = Field(default_factory=dict)


AnyBackendOptions = Annotated[LlamaBackendOptions | OpenAIBackendOptions | CustomBackendOptions,
                              Field(discriminator="type")]


def make_backend(name: str, options: BackendOptions) -> ChatBackend:
    if isinstance(options, LlamaBackendOptions):
        return LlamaBackend(name, options)
    if isinstance(options, OpenAIBackendOptions):
        return OpenAIBackend(name, options)
    if isinstance(options, CustomBackendOptions):
        module, _, attr = options.cls.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"backend {name}: cannot import {options.cls!r} ({e})",
                              hint="cls: package.module:Class, a ChatBackend subclass") from e
        if not (isinstance(cls, type) and issubclass(cls, ChatBackend)):
            raise ConfigError(f"backend {name}: {options.cls} is not a ChatBackend subclass")
        return cls(name, options)
    raise TypeError(f"no backend for {type(options).__name__}")


__all__ = ["AnyBackendOptions", "BackendOptions", "ChatBackend", "CustomBackendOptions", "LlamaBackend", "LlamaBackendOptions",
           "OpenAIBackend", "OpenAIBackendOptions", "Price", "make_backend"]
