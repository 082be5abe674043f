"""One Realtime API connection: a Conversation on the process's engines, driven by the client's
events, its frames reported back as the API's server events.

    client event ──> handler (here) ──> Conversation: push / ask / commit / clear / cancel / edit
    frames of the session ──> on_frame / on_audio (observer, audio output) ──> events ──> bounded queue ──> socket

One writer for the connection's state: every handler and every callback runs on the event loop.
The queue of events to send is bounded: a client that does not read is closed, not buffered for.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from omni.app.host import Conversation
from omni.errors import OmniError
from omni.frames import Frame
from omni.runtime.controls import BUILTIN_TOOLS
from omni.serve.realtime.protocol import (RATE, ClientError, Ids, assistant_item, error_event, parse, pcm_in,
                                          system_item, text_of, user_item)
from omni.serve.realtime.settings import Settings, default_turn_detection, pipeline_for, updated
from omni.serve.realtime.report import Exchange, Item, Reporter, _item_text, _heard
from omni.app.prometheus import Stats
from omni.transports.base import SessionFactory
from omni.vision.camera import PushedCamera

log = logging.getLogger(__name__)

MAX_IMAGE_B64 = 4 * 2**20
"""A camera picture, base64 (3 MiB of JPEG: a 4K frame is scaled down on arrival anyway)."""
QUEUE = 2048
"""Events waiting to be sent; a client this far behind is closed (about 40 s of reply audio)."""


class RealtimeSession(Reporter):
    """One connection: the client's events in (the handlers here), the session's frames out
    (omni.serve.realtime.report.Reporter)."""

    def __init__(self, ws: WebSocket, sessions: SessionFactory, stats: Stats, *, model: str,
                 omni_events: bool = False) -> None:
        super().__init__()
        self.ws = ws
        self.sessions = sessions
        self.cfg = sessions.cfg
        self.stats = stats
        self.model = model
        self.omni_events = omni_events
        self.ids = Ids()
        self.conversation_id = self.ids.new("conv")
        self.out: asyncio.Queue[str | None] = asyncio.Queue(QUEUE)
        self.settings = Settings()
        self.conv: Conversation | None = None
        self._closing: str | None = None
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._llm = next((s.name for s in self.cfg.stages if s.kind == "dialogue"), None)
        self._tts = next((s.name for s in self.cfg.stages if s.kind.startswith("tts.")), None)
        self._looks = self.cfg.camera is not None and any(s.kind == "vision.scene" for s in self.cfg.stages)
        self.camera: PushedCamera | None = None
        """The session's camera, for a pipeline that looks: the client pushes its pictures."""

    # the connection ----------------------------------------------------------------------------
    async def run(self) -> None:
        sender = asyncio.ensure_future(self._send_all())
        receiver: asyncio.Future[None] | None = None
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await self._open(default_turn_detection(self.cfg), audio=True)
            self.settings = self._base = self._initial_settings()
            c = self.controls
            self._base_tools_off = list(getattr(c.options(self._llm), "tools_off", []) or []) if self._llm else []
            self._base_length = getattr(c.options(self._tts), "length_scale", None) if self._tts else None
            self.emit({"type": "session.created", "session": self._session_json()})
            self.emit({"type": "conversation.created",
                       "conversation": {"id": self.conversation_id, "object": "realtime.conversation"}})
            if self.omni_events:  # what the page needs to know beyond the API: the camera it should send
                cam = self.cfg.camera
                self.emit({"type": "omni.session", "pipeline": self.cfg.name,
                           "camera": {"fps": cam.active_fps, "max_side": cam.max_side} if self._looks and cam else None})
            receiver = asyncio.ensure_future(self._receive_all())
            await asyncio.wait({sender, receiver, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, stopped, sender if self._closing else None):  # too slow: nothing more goes out
                if task is not None and not task.done():
                    task.cancel()
            if self.conv is not None:
                with contextlib.suppress(Exception):
                    await self.conv.close(cancel=True)
            if not sender.done():
                with contextlib.suppress(asyncio.QueueFull):
                    self.out.put_nowait(None)
                await asyncio.wait({sender}, timeout=2)
                sender.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(*((1008, self._closing) if self._closing else (1000,))), 2)
            self.stats.realtime_sessions.labels("too slow" if self._closing else "closed").inc()

    async def _receive_all(self) -> None:
        while self._closing is None:
            try:
                msg = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if msg["type"] == "websocket.disconnect":
                return
            event_id = None
            try:
                event = parse(msg.get("text") if msg.get("text") is not None else None)
                event_id = event.get("event_id")
                kind = event["type"]
                handler = HANDLERS.get(kind)
                self.stats.realtime_events.labels(kind if handler else "unknown").inc()
                if handler is None:
                    raise ClientError(f"unknown event type {kind[:60]!r}", code="unknown_event", param="type")
                await handler(self, event)
            except ClientError as e:
                self.emit(error_event(e, event_id))
            except OmniError as e:  # a setting the pipeline refused (ConfigError, InputError)
                self.emit(error_event(ClientError(str(e), code="invalid_value"), event_id))
            except Exception:
                log.exception("realtime: a client event failed", extra={"stage": "realtime"})
                self.emit(error_event(ClientError("the server failed on this event (see its log)",
                                                  code="server_error", kind="server_error"), event_id))

    async def _send_all(self) -> None:
        while (text := await self.out.get()) is not None:
            try:
                await self.ws.send_text(text)
            except Exception:  # the client went away
                return

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event (any thread; the loop's own order). It is written out now: an
        item changed later does not change what this event said."""
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.emit, event)
            return
        if self._closing is not None:
            return
        text = json.dumps({"type": event.pop("type"), "event_id": self.ids.new("event"), **event})
        try:
            self.out.put_nowait(text)
        except asyncio.QueueFull:  # the client does not read: the session ends now
            self._closing = "the client did not read its events"
            log.warning("realtime: closing a session whose client is %d events behind", QUEUE,
                        extra={"stage": "realtime"})
            self._stop.set()

    # the conversation under it ---------------------------------------------------------------
    async def _open(self, td: dict[str, Any] | None, audio: bool) -> None:
        """(Re)open the Conversation for these settings (a change of turn detection or of output
        needs another pipeline); the history goes over to the new one. The new one is open before
        the old one closes: a pipeline that will not open leaves the session as it was."""
        old = self.conv
        gen = self._generation + 1
        camera = PushedCamera(max_side=self.cfg.camera.max_side) if self._looks else None
        conv = await self.sessions.open(audio_out=audio, realtime=True, out_rate=RATE, cfg=pipeline_for(self.cfg, td),
                                        observers=[_Observer(self, gen)], audio=_Audio(self, gen), camera=camera)
        self._generation, self.conv, self.camera = gen, conv, camera
        conv.session.recorder.listeners.append(lambda kind, rec: self._recorded(kind, rec, gen))
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close(cancel=True)
            self._carry_history()

    def _carry_history(self) -> None:
        """The history as the client's items say it, into the new conversation (new turn ids);
        an item that carries nothing (a function call, an empty message) belongs to no turn now."""
        assert self.conv is not None
        by_turn: dict[int, list[Item]] = {}
        for item in self.items.values():
            if item.turn is not None:
                by_turn.setdefault(item.turn, []).append(item)
        old_turns, self.turns = self.turns, {}
        self._records.clear()
        self._commits = 0
        self._speech_item, self._partial = None, ""
        for old, its in sorted(by_turn.items()):
            user = " ".join(_item_text(i) for i in its if i.side == "user").strip()
            reply = " ".join(_item_text(i) for i in its if i.side == "assistant").strip()
            new = self.conv.controls.remember(user=user, reply=reply) if user or reply else None
            for i in its:
                i.turn = new
            ex = old_turns.get(old)
            if new is not None and ex is not None:  # its audio's sentences, for a later truncate
                ex.turn, ex.ended = new, True
                self.turns[new] = ex

    def _initial_settings(self) -> Settings:
        assert self.conv is not None
        c = self.conv.controls
        llm = c.options(self._llm) if self._llm else None
        tts = c.options(self._tts) if self._tts else None
        stt = next((s for s in self.cfg.stages if s.kind.startswith("stt.")), None)
        return Settings(
            modalities=["audio"], instructions=getattr(llm, "system_prompt", "") or "",
            turn_detection=default_turn_detection(self.cfg), voice=getattr(tts, "voice", "") or "",
            transcription={"model": stt.options.get("model", stt.kind)} if stt is not None else None,
            max_output_tokens=getattr(llm, "max_tokens", None) or "inf")

    def _tools(self) -> list[dict[str, Any]]:
        """The pipeline's tools in the API's form: its device actions (the allow-list) and the
        built-in tools it offers the model; omni runs them and reports each call."""
        assert self.conv is not None
        stage = next((s for s in self.conv.session.stages if s.name == self._llm), None)
        registry = getattr(stage, "tools", None)
        out = {a.name: {"type": "function", "name": a.name, "description": a.description, "parameters": a.schema()}
               for a in self.controls.actions.values()}
        for t in registry.schemas() if registry is not None else []:
            f = t["function"]
            out.setdefault(f["name"], {"type": "function", "name": f["name"], "description": f["description"],
                                       "parameters": f["parameters"]})
        return list(out.values())

    def _session_json(self) -> dict[str, Any]:
        return {"id": f"sess_{self.ids.tag}", **self.settings.as_json(self._tools(), self.model)}

    @property
    def controls(self) -> Any:
        assert self.conv is not None
        return self.conv.controls

    # client events -----------------------------------------------------------------------------
    async def session_update(self, event: dict[str, Any]) -> None:
        new = updated(self.settings, event.get("session"), {t["name"] for t in self._tools()})
        await self._apply(new)
        self.emit({"type": "session.updated", "session": self._session_json()})

    async def _apply(self, new: Settings) -> None:
        """Everything is checked before anything changes; a pipeline that refuses a value says why."""
        old = self.settings
        reopen = new.turn_detection != old.turn_detection or new.modalities != old.modalities
        if reopen and self._active() is not None:
            raise ClientError("turn detection and output modalities change between responses: cancel the "
                              "response under way first", code="conversation_already_has_active_response")
        if reopen:
            pipeline_for(self.cfg, new.turn_detection)  # checked before anything changes
        self.controls.settings(self._live(new))  # all or none: each stage checks its part first
        if reopen:
            await self._open(new.turn_detection, audio=new.audio)
            self.controls.settings(self._live(new))
        self.settings = new
        self._instruct()

    def _live(self, s: Settings) -> dict[str, Any]:
        """The live options that make the pipeline's session these settings."""
        assert self.conv is not None
        base, live = self._base, {}
        if self._llm:
            if isinstance(base.max_output_tokens, int):
                live[f"{self._llm}.max_tokens"] = base.max_output_tokens if s.max_output_tokens == "inf" \
                    else s.max_output_tokens
            elif s.max_output_tokens != "inf":
                live[f"{self._llm}.max_tokens"] = s.max_output_tokens
            live[f"{self._llm}.tools_off"] = sorted({*self.controls.actions, *BUILTIN_TOOLS.values()}) \
                if s.tool_choice == "none" else self._base_tools_off
        if self._tts and any(st.name == self._tts for st in self.conv.session.stages):  # not in a text session
            live[f"{self._tts}.voice"] = s.voice
            live[f"{self._tts}.length_scale"] = self._base_length if s.speed == 1.0 else round(1.0 / s.speed, 3)
        return live

    async def append(self, event: dict[str, Any]) -> None:
        samples = pcm_in(event.get("audio"))
        if len(samples):
            assert self.conv is not None
            await self.conv.push(samples, RATE)  # waits while the pipeline is behind: the client slows

    async def commit(self, event: dict[str, Any]) -> None:
        self._commits += 1
        self.controls.commit()

    async def clear(self, event: dict[str, Any]) -> None:
        self.controls.clear()
        self._speech_item = None
        self.emit({"type": "input_audio_buffer.cleared"})

    async def item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            raise ClientError("conversation.item.create needs an \"item\" object", param="item")
        prev = event.get("previous_item_id")
        last = next(reversed(self.items), None)
        if prev is not None and prev != last:
            raise ClientError("omni adds items at the end of the conversation only (previous_item_id may "
                              "name the last item)", code="unsupported", param="previous_item_id")
        item_id = item.get("id") or self.ids.new("item")
        if not isinstance(item_id, str) or item_id in self.items or len(item_id) > 64:
            raise ClientError(f"item id {str(item_id)[:64]!r} is taken or not an id", param="item.id")
        if item.get("type", "message") != "message":
            raise ClientError(f"items of type {item.get('type')!r} are not supported: omni runs its own tools, "
                              "so there is no function output to give it", code="unsupported", param="item.type")
        role, text = text_of(item, "item")
        if text is None:  # a user's recorded message: heard with the session's recogniser
            samples = pcm_in(item["content"][0].get("audio"))
            heard = await self.sessions.calls.transcribe(samples.astype(np.float32) / 32768.0, RATE)
            if not heard.text.strip():
                raise ClientError("no speech was heard in the item's audio", param="item.content[0].audio")
            js = user_item(item_id, transcript=heard.text)
            self.items[item_id] = Item(js, "user")
            self.pending.append(item_id)
        elif role == "user":
            if not text:
                raise ClientError("the user message has no text", param="item.content")
            self.items[item_id] = Item(user_item(item_id, text=text), "user")
            self.pending.append(item_id)
        elif role == "assistant":
            turn = self.controls.remember(reply=text)
            self.items[item_id] = Item(assistant_item(item_id, audio=False, text=text), "assistant", turn)
        else:
            self.items[item_id] = Item(system_item(item_id, text), "system")
            self._instruct()
        js = self.items[item_id].json
        self.emit({"type": "conversation.item.added", "previous_item_id": last, "item": js})
        self.emit({"type": "conversation.item.done", "previous_item_id": last, "item": js})

    def _instruct(self) -> None:
        """The session's instructions, then the client's system messages, in order."""
        if not self._llm:
            return
        texts = [self.settings.instructions, *(_item_text(i) for i in self.items.values() if i.side == "system")]
        self.controls.settings({f"{self._llm}.system_prompt": "\n\n".join(t for t in texts if t)})

    async def item_delete(self, event: dict[str, Any]) -> None:
        item = self._item(event)
        ex = self.turns.get(item.turn) if item.turn is not None else None
        if ex is not None and not ex.ended:
            raise ClientError("the item is part of the response under way: cancel it first",
                              code="conversation_already_has_active_response", param="item_id")
        del self.items[event["item_id"]]
        if event["item_id"] in self.pending:
            self.pending.remove(event["item_id"])
        elif item.side == "system":
            self._instruct()
        elif item.turn is not None and item.side in ("user", "assistant"):
            self.controls.edit(item.turn, **{"user" if item.side == "user" else "reply": ""})
        self.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    async def item_retrieve(self, event: dict[str, Any]) -> None:
        self.emit({"type": "conversation.item.retrieved", "item": self._item(event).json})

    async def item_truncate(self, event: dict[str, Any]) -> None:
        item = self._item(event)
        ms = event.get("audio_end_ms")
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise ClientError("audio_end_ms is a whole number of milliseconds, 0 or more", param="audio_end_ms")
        if event.get("content_index", 0) != 0:
            raise ClientError("omni's messages have one content part: content_index is 0", param="content_index")
        ex = self.turns.get(item.turn) if item.turn is not None else None
        if item.side != "assistant" or ex is None or ex.response is None or not ex.response.audio:
            raise ClientError("only an assistant message with audio can be truncated", param="item_id")
        total = sum(ms_ for _, ms_ in ex.sentences.values())
        if ms > total + 50:
            raise ClientError(f"audio_end_ms {ms} is past the end of the item's audio ({total:.0f} ms)",
                              param="audio_end_ms")
        heard = _heard(ex.sentences, ms)
        item.json["content"][0]["transcript"] = heard
        if ex.ended:
            self.controls.edit(ex.turn, reply=heard)
        else:  # still playing here: it stops, and the history keeps what the client says was heard
            ex.edit_after = heard
            self._cancel(ex)
        self.emit({"type": "conversation.item.truncated", "item_id": event["item_id"], "content_index": 0,
                   "audio_end_ms": ms})

    async def response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise ClientError("response is an object", param="response")
        for key in ("input", "instructions", "tools", "prompt"):
            if params.get(key):
                raise ClientError(f"response.{key} is not supported: omni answers from the conversation, with "
                                  "the session's instructions and tools", code="unsupported", param=f"response.{key}")
        if params.get("conversation", "auto") != "auto":
            raise ClientError("out-of-band responses (conversation: none) are not supported", code="unsupported",
                              param="response.conversation")
        mods = params.get("output_modalities")
        if mods is not None and (not isinstance(mods, list) or (["audio"] if "audio" in mods else ["text"])
                                 != self.settings.modalities):
            raise ClientError("a response's output_modalities are the session's: change them with session.update",
                              code="unsupported", param="response.output_modalities")
        if not self.pending and self.settings.turn_detection is None and (self._commits or self._voice_unanswered()):
            return  # push to talk: a committed turn is answered as it ends; this asks for that answer
        if self._active() is not None:
            raise ClientError("a response is under way: cancel it first or wait for response.done",
                              code="conversation_already_has_active_response")
        if not self.pending:
            raise ClientError("nothing to answer: add a user message first (conversation.item.create), or speak",
                              code="no_input")
        text = " ".join(_item_text(self.items[i]) for i in self.pending).strip()
        turn = self.controls.ask(text)
        ex = self.turns[turn.id] = Exchange(turn.id, voice=False, user=list(self.pending))
        for i in self.pending:
            self.items[i].turn = turn.id
        self.pending.clear()
        self._respond(ex)

    async def response_cancel(self, event: dict[str, Any]) -> None:
        ex = self._active()
        if ex is None or (event.get("response_id") and ex.response and event["response_id"] != ex.response.id):
            raise ClientError("no response is under way to cancel", code="response_cancel_not_active")
        self._cancel(ex)

    def _cancel(self, ex: Exchange) -> None:
        """Stop `ex`'s reply; one not yet begun (its words still being written) is stopped at its first."""
        ex.client_cancelled = True
        if not self.controls.cancel():
            ex.cancel_pending = True

    async def camera_frame(self, event: dict[str, Any]) -> None:
        """omni's own event: a picture from the client's camera (JPEG or PNG, base64), for a
        pipeline that looks. The page sends one at the pipeline's active sampling rate."""
        if self.camera is None:
            raise ClientError(f"pipeline {self.cfg.name} has no camera to send pictures to", code="unsupported",
                              param="type")
        data = event.get("image")
        if not isinstance(data, str) or len(data) > MAX_IMAGE_B64:
            raise ClientError(f"image is a base64 JPEG or PNG of at most {MAX_IMAGE_B64 * 3 // 4 // 2**20} MiB",
                              param="image")
        image = await asyncio.to_thread(_decode_image, data)
        self.camera.push(image)

    async def output_clear(self, event: dict[str, Any]) -> None:
        ex = self._active()
        if ex is not None:
            self._cancel(ex)
        self.emit({"type": "output_audio_buffer.cleared",
                   "response_id": ex.response.id if ex is not None and ex.response else ""})

    def _item(self, event: dict[str, Any]) -> Item:
        item_id = event.get("item_id")
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            raise ClientError(f"no item {str(item_id)[:64]!r} in this conversation", code="item_not_found",
                              param="item_id")
        return item

def _decode_image(data: str) -> np.ndarray:
    import cv2

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError("image is not valid base64", param="image") from None
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ClientError("image is not a picture OpenCV can read (send JPEG or PNG)", param="image")
    return image


class _Observer:
    """Frames of one conversation of the session (a reopened one's old frames are not told)."""

    def __init__(self, session: RealtimeSession, generation: int) -> None:
        self.session, self.generation = session, generation

    def on_frame(self, stage: str, frame: Frame) -> None:
        if self.generation == self.session._generation:  # noqa: SLF001 (its own session)
            self.session.on_frame(stage, frame)


class _Audio(_Observer):
    def on_audio(self, turn: int, audio: np.ndarray, sample_rate: int, at_s: float) -> None:
        if self.generation == self.session._generation:  # noqa: SLF001
            self.session.on_audio(turn, audio, sample_rate, at_s)


HANDLERS = {
    "session.update": RealtimeSession.session_update,
    "input_audio_buffer.append": RealtimeSession.append,
    "input_audio_buffer.commit": RealtimeSession.commit,
    "input_audio_buffer.clear": RealtimeSession.clear,
    "conversation.item.create": RealtimeSession.item_create,
    "conversation.item.delete": RealtimeSession.item_delete,
    "conversation.item.retrieve": RealtimeSession.item_retrieve,
    "conversation.item.truncate": RealtimeSession.item_truncate,
    "response.create": RealtimeSession.response_create,
    "response.cancel": RealtimeSession.response_cancel,
    "output_audio_buffer.clear": RealtimeSession.output_clear,
    "omni.camera.frame": RealtimeSession.camera_frame,
}
