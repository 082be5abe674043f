"""A stage of your own: spell out what a voice should not read as letters (before TTS).

In a pipeline file, between `sentences` and `tts`:

    - name: spell
      kind: spell_out:SpellOut          # package.module:Class, importable (on PYTHONPATH)
      options: {words: {km: kilometres, "e.g.": for example}}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

from pydantic import Field

from omni.frames import Frame, ReplySentence
from omni.runtime import Processor, StageOptions


class SpellOutOptions(StageOptions):
    words: dict[str, str] = Field(default_factory=lambda: {"km": "kilometres", "e.g.": "for example"})
    """Written form -> what to say (matched as whole words, case-insensitively)."""


class SpellOut(Processor):
    """ReplySentence -> ReplySentence with `words` spelled out; every other frame passes on."""

    Options = SpellOutOptions
    options: SpellOutOptions
    handles = (ReplySentence,)
    live_options = frozenset({"words"})

    async def process(self, frame: ReplySentence) -> AsyncIterator[Frame]:
        text = frame.text
        for written, said in self.options.words.items():
            text = re.sub(rf"(?<!\w){re.escape(written)}(?!\w)", said, text, flags=re.IGNORECASE)
        yield dataclasses.replace(frame, text=text)
