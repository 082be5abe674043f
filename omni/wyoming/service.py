"""What omni offers over Wyoming, shared by every connection: the pipeline's engines (loaded
once, by the Host), its `info`, and the handler's conversations (one per Home Assistant
`conversation_id`, text only, the history kept; the least recently used closed past a bound)."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from wyoming.info import (AsrModel, AsrProgram, Attribution, HandleModel, HandleProgram, Info, TtsProgram, TtsVoice,
                          WakeModel, WakeProgram)

from omni import __version__
from omni.app.host import Conversation, Host
from omni.config import PipelineConfig
from omni.frames import Turn
from omni.wyoming.actions import ActionLink

log = logging.getLogger(__name__)

WAKE_MODELS = {"hey_jarvis": "hey jarvis", "alexa": "alexa", "okay_nabu": "okay nabu", "hey_mycroft": "hey mycroft"}
"""The bundled microWakeWord models and their phrases."""
ATTRIBUTION = Attribution(name="omni", url="https://github.com/omni-voice/omni")
CONVERSATIONS = 32
"""Handler conversations kept open (Home Assistant starts one per conversation_id)."""


class Replies:
    """A conversation's TextOutput: each turn's reply text, piece by piece, to whoever waits for it."""

    def __init__(self) -> None:
        self.queues: dict[int, asyncio.Queue[tuple[str, str | None]]] = {}

    def watch(self, turn: Turn) -> asyncio.Queue[tuple[str, str | None]]:
        return self.queues.setdefault(turn.id, asyncio.Queue())

    def on_text(self, turn: Turn, text: str) -> None:
        self.watch(turn).put_nowait((text, None))

    def on_reply(self, turn: Turn, text: str, reason: str) -> None:
        self.watch(turn).put_nowait((text, reason))


class WyomingService:
    def __init__(self, host: Host, cfg: PipelineConfig, actions: ActionLink | None = None) -> None:
        self.host = host
        self.cfg = cfg
        self.calls = host.calls(cfg)
        self.actions = actions
        """Where the handler's device actions go (None: nowhere, so its conversations have none)."""
        if actions is not None:
            actions.on_failed = self._actions_lost
        self._conversations: collections.OrderedDict[str, tuple[Conversation, Replies]] = collections.OrderedDict()
        self._lock = asyncio.Lock()
        self.connections = 0

    @property
    def acting(self) -> bool:
        """Device actions go somewhere: the handler may do them."""
        return self.actions is not None and self.actions.failed is None

    def _actions_lost(self) -> None:
        for conv, _ in self._conversations.values():
            if conv.result is None and self.calls.actions:
                conv.controls.tools_off(sorted(self.calls.actions))

    def stage(self, prefix: str) -> Any:
        return next((s for s in self.cfg.stages if s.kind.startswith(prefix)), None)

    def info(self) -> Info:
        """What `describe` answers: the recogniser, the voice, the wake words, the dialogue."""
        def program(cls: Callable[..., Any], name: str, description: str, **kw: Any) -> Any:
            return cls(name=name, attribution=ATTRIBUTION, installed=True, description=description,
                       version=__version__, **kw)

        info = Info()
        if (stt := self.stage("stt.")) is not None:
            model = str(stt.options.get("model", "tiny.en"))
            info.asr = [program(AsrProgram, "omni-stt", f"omni's recogniser ({stt.kind})", models=[
                AsrModel(name=model, attribution=ATTRIBUTION, installed=True, description=f"faster-whisper {model}",
                         version=None, languages=["en"])], supports_transcript_streaming=True)]
        if (tts := self.stage("tts.")) is not None:
            voice = str(tts.options.get("voice", "joe"))
            info.tts = [program(TtsProgram, "omni-tts", "omni's piper voice", voices=[
                TtsVoice(name=voice, attribution=ATTRIBUTION, installed=True, description=f"piper {voice}",
                         version=None, languages=["en_US"])], supports_synthesize_streaming=True)]
        if self.stage("wake.") is not None:
            info.wake = [program(WakeProgram, "omni-wake", "microWakeWord, bundled models", models=[
                WakeModel(name=name, attribution=ATTRIBUTION, installed=True, description=f"microWakeWord {name}",
                          version=None, languages=["en"], phrase=phrase) for name, phrase in WAKE_MODELS.items()])]
        if (llm := self.stage("dialogue")) is not None:
            local = (llm.options.get("backends") or {}).get("local") or {}
            actions = llm.options.get("actions") or []
            info.handle = [program(HandleProgram, "omni-dialogue", "omni's dialogue core: intent fast path, a local "
                                   "LLM with failover, allow-listed actions", models=[
                HandleModel(name=str(local.get("model", "local")), attribution=ATTRIBUTION, installed=True,
                            description="the pipeline's routing order", version=None, languages=["en"])],
                supports_handled_streaming=True, supports_home_control=bool(actions) and self.acting)]
        return info

    async def conversation(self, conversation_id: str | None) -> tuple[Conversation, Replies]:
        """The text conversation of this id (a new one for None or an id not seen)."""
        async with self._lock:
            key = conversation_id or f"anonymous-{id(object())}"
            got = self._conversations.get(key)
            if got is not None and got[0].result is None:
                self._conversations.move_to_end(key)
                return got
            replies = Replies()
            conv = await self.host.open(self.cfg, audio_out=False, realtime=False, text=replies,
                                        observers=[self.actions] if self.acting else ())
            if not self.acting and self.calls.actions:
                conv.controls.tools_off(sorted(self.calls.actions))  # it can't do them: it must not say it did
            self._conversations[key] = (conv, replies)
            while len(self._conversations) > CONVERSATIONS:
                _, (old, _) = self._conversations.popitem(last=False)
                await old.close()
            return conv, replies

    async def aclose(self) -> None:
        for conv, _ in self._conversations.values():
            await conv.close()
        self._conversations.clear()
