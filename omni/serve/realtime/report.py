"""What a Realtime session reports: the pipeline's frames (speech, transcripts, reply text and
audio, actions, the end of each turn) as the API's items, responses and server events.

The state here (items, turns, responses) has one writer: the event loop, through these methods
and the client's handlers in omni.serve.realtime.session, which extends this class."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omni.config import PipelineConfig
from omni.frames import (DeviceAction, EndTurn, ErrorEvent, Frame, PartialTranscript, ReplyAudio, ReplyPlayed,
                         ReplyToken, SceneFrame, SpeechStarted, SpeechStopped, Transcript, Utterance)
from omni.runtime.metrics import TurnRecord
from omni.serve.realtime.protocol import (ClientError, Ids, assistant_item, call_item, error_event, pcm_out,
                                          response_json, user_item)
from omni.serve.realtime.settings import Settings
from omni.app.prometheus import Stats


@dataclass
class Item:
    json: dict[str, Any]
    side: str
    """user, assistant, system or call."""
    turn: int | None = None
    """The omni turn it belongs to (None: a user message not yet answered, a system message)."""


@dataclass
class Response:
    id: str
    audio: bool
    output: list[str] = field(default_factory=list)
    message: str | None = None
    """The assistant message item's id, once the reply has its first word or sound."""
    text: str = ""


@dataclass
class Exchange:
    """An omni turn, as the client sees it: a user item (spoken or typed) and a response."""

    turn: int
    voice: bool
    user: list[str] = field(default_factory=list)
    response: Response | None = None
    sentences: dict[int, list[Any]] = field(default_factory=dict)
    """Sentence index -> [its text, ms of its audio]: what a truncate at some ms heard."""
    client_cancelled: bool = False
    cancel_pending: bool = False
    """Cancelled before its reply began: stopped as soon as it does."""
    edit_after: str | None = None
    """The reply as the client heard it (a truncate while it was still going): kept once it ends."""
    ended: bool = False


class Reporter:
    """The frames of a session's Conversation -> server events (`emit`), and the items they make."""

    cfg: PipelineConfig
    stats: Stats
    ids: Ids
    settings: Settings
    omni_events: bool
    conversation_id: str
    _llm: str | None

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.turns: dict[int, Exchange] = {}
        self.pending: list[str] = []
        """User items created by the client, waiting for response.create."""
        self._speech_item: str | None = None
        self._partial = ""
        self._commits = 0
        self._records: dict[int, TurnRecord] = {}
        self._generation = 0

    def emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def controls(self) -> Any:
        raise NotImplementedError

    def _voice_unanswered(self) -> bool:
        """A spoken turn whose reply has not ended yet (it is answered on its own)."""
        return any(ex.voice and not ex.ended for ex in self.turns.values())

    def _active(self) -> Exchange | None:
        return next((ex for ex in reversed(self.turns.values()) if ex.response is not None and not ex.ended), None)

    def on_frame(self, stage: str, frame: Frame) -> None:
        manual = self.settings.turn_detection is None
        if isinstance(frame, SpeechStarted):
            self._typed_to_history()
        if isinstance(frame, SpeechStarted) and not manual:
            self._speech_item = self._speech_item or self.ids.new("item")
            self.emit({"type": "input_audio_buffer.speech_started", "item_id": self._speech_item,
                       "audio_start_ms": round(frame.start * 1000 / frame.sample_rate)})
        elif isinstance(frame, SpeechStopped) and not manual and self._speech_item is not None:
            self.emit({"type": "input_audio_buffer.speech_stopped", "item_id": self._speech_item,
                       "audio_end_ms": round(frame.end * 1000 / self.cfg.sample_rate)})
            if frame.dropped:
                self._speech_item = None
        elif isinstance(frame, Utterance):
            self._committed(frame)
        elif isinstance(frame, PartialTranscript):
            self._partial_heard(frame.text)
        elif isinstance(frame, Transcript):
            self._transcribed(frame)
        elif isinstance(frame, ReplyToken):
            ex = self._exchange(frame.turn.id)
            if ex is not None and frame.text:
                self._said(ex, frame.text)
        elif isinstance(frame, ReplyAudio):
            ex = self._exchange(frame.turn.id)
            if ex is not None:
                s = ex.sentences.setdefault(frame.sentence, [frame.text, 0.0])
                s[1] += len(frame.samples) * 1000.0 / frame.sample_rate
        elif isinstance(frame, DeviceAction) and frame.turn is not None:
            ex = self._exchange(frame.turn.id)
            if ex is not None:
                self._called(ex, frame)
        elif isinstance(frame, ReplyPlayed):
            ex = self._exchange(frame.turn.id)
            if ex is not None:
                self._ended(ex, frame)
        elif isinstance(frame, EndTurn) and frame.done and self._commits:
            self._commits -= 1
            if frame.turn is None:
                self.emit(error_event(ClientError("nothing to commit: no speech was heard since the last turn",
                                                  code="input_audio_buffer_commit_empty"), None))
        elif isinstance(frame, SceneFrame) and self.omni_events:
            self.emit({"type": "omni.scene", "seq": frame.seq, "age_s": round(time.monotonic() - frame.captured, 2),
                       "caption": _describe(frame)})
        elif isinstance(frame, ErrorEvent):
            self.emit(error_event(ClientError(f"{frame.stage}: {frame.message}", code="pipeline_error",
                                              kind="server_error"), None))

    def on_audio(self, turn: int, audio: np.ndarray, sample_rate: int, at_s: float) -> None:
        ex = self._exchange(turn)
        if ex is None or not self.settings.audio:
            return
        r = self._respond(ex)
        self._message(ex, r)
        self.emit({"type": "response.output_audio.delta", "response_id": r.id, "item_id": r.message,
                   "output_index": r.output.index(r.message), "content_index": 0, "delta": pcm_out(audio)})

    def _exchange(self, turn: int) -> Exchange | None:
        ex = self.turns.get(turn)
        if ex is None:  # a turn the client did not start (a voice turn whose utterance came first)
            ex = self.turns[turn] = Exchange(turn, voice=True)
        return None if ex.ended else ex

    def _typed_to_history(self) -> None:
        """Typed messages the client did not ask a response to are history once the user speaks
        (told now, at the start of speech, they reach the dialogue before that speech does)."""
        if not self.pending:
            return
        text = " ".join(_item_text(self.items[i]) for i in self.pending).strip()
        turn = self.controls.remember(user=text) if text else None
        for i in self.pending:
            self.items[i].turn = turn
        self.pending.clear()

    def _committed(self, u: Utterance) -> None:
        self._typed_to_history()
        item_id = self._speech_item or self.ids.new("item")
        self._speech_item, self._partial = None, ""
        prev = next(reversed(self.items), None)
        ex = self.turns.setdefault(u.turn.id, Exchange(u.turn.id, voice=True))
        ex.user.append(item_id)
        self.items[item_id] = Item(user_item(item_id, transcript=None, status="in_progress"), "user", u.turn.id)
        self.emit({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": prev})
        self.emit({"type": "conversation.item.added", "previous_item_id": prev, "item": self.items[item_id].json})

    def _partial_heard(self, text: str) -> None:
        item = self._speech_item
        if item is None or self.settings.turn_detection is None and not self.omni_events:
            return
        if text.startswith(self._partial) and len(text) > len(self._partial):
            self.emit({"type": "conversation.item.input_audio_transcription.delta", "item_id": item,
                       "content_index": 0, "delta": text[len(self._partial):]})
            self._partial = text
        if self.omni_events:
            self.emit({"type": "omni.partial_transcript", "item_id": item, "text": text})

    def _transcribed(self, t: Transcript) -> None:
        ex = self.turns.get(t.turn.id)
        if t.tentative:
            self._partial_heard(t.text)
            return
        if ex is None or not ex.voice or ex.ended:
            return  # a typed turn: its item was reported when the client made it
        if not ex.user:
            self._committed(Utterance(turn=t.turn, samples=np.zeros(0, np.float32), sample_rate=t.turn.sample_rate))
        item = self.items.get(ex.user[-1])
        if item is None:
            return
        item.json["content"][0]["transcript"] = t.text
        item.json["status"] = "completed"
        seconds = (t.turn.speech_end - t.turn.speech_start) / t.turn.sample_rate
        self.emit({"type": "conversation.item.input_audio_transcription.completed", "item_id": item.json["id"],
                   "content_index": 0, "transcript": t.text,
                   "usage": {"type": "duration", "seconds": round(max(seconds, 0.0), 3)}})
        self.emit({"type": "conversation.item.done", "item": item.json})
        if t.text.strip():
            self._respond(ex)

    def _respond(self, ex: Exchange) -> Response:
        if ex.cancel_pending and self.controls.cancel():
            ex.cancel_pending = False
        if ex.response is None:
            ex.response = Response(self.ids.new("resp"), audio=self.settings.audio)
            self.emit({"type": "response.created", "response": self._response_json(ex.response, "in_progress")})
        return ex.response

    def _message(self, ex: Exchange, r: Response) -> None:
        if r.message is not None:
            return
        r.message = self.ids.new("item")
        r.output.append(r.message)
        prev = next(reversed(self.items), None)
        js = assistant_item(r.message, audio=r.audio, status="in_progress")
        js["content"] = []
        self.items[r.message] = Item(js, "assistant", ex.turn)
        idx = r.output.index(r.message)
        self.emit({"type": "response.output_item.added", "response_id": r.id, "output_index": idx, "item": js})
        self.emit({"type": "conversation.item.added", "previous_item_id": prev, "item": js})
        self.emit({"type": "response.content_part.added", "response_id": r.id, "item_id": r.message,
                   "output_index": idx, "content_index": 0,
                   "part": {"type": "audio", "transcript": ""} if r.audio else {"type": "text", "text": ""}})

    def _said(self, ex: Exchange, text: str) -> None:
        r = self._respond(ex)
        self._message(ex, r)
        r.text += text
        self.emit({"type": "response.output_audio_transcript.delta" if r.audio else "response.output_text.delta",
                   "response_id": r.id, "item_id": r.message, "output_index": r.output.index(r.message),
                   "content_index": 0, "delta": text})

    def _called(self, ex: Exchange, a: DeviceAction) -> None:
        r = self._respond(ex)
        item_id, call_id = self.ids.new("item"), self.ids.new("call")
        args = json.dumps(a.args)
        r.output.append(item_id)
        idx = len(r.output) - 1
        prev = next(reversed(self.items), None)
        self.items[item_id] = Item(call_item(item_id, call_id, a.action, args), "call", ex.turn)
        js = self.items[item_id].json
        self.emit({"type": "response.output_item.added", "response_id": r.id, "output_index": idx,
                   "item": {**js, "status": "in_progress", "arguments": ""}})
        self.emit({"type": "conversation.item.added", "previous_item_id": prev, "item": js})
        self.emit({"type": "response.function_call_arguments.delta", "response_id": r.id, "item_id": item_id,
                   "output_index": idx, "call_id": call_id, "delta": args})
        self.emit({"type": "response.function_call_arguments.done", "response_id": r.id, "item_id": item_id,
                   "output_index": idx, "call_id": call_id, "name": a.action, "arguments": args})
        self.emit({"type": "response.output_item.done", "response_id": r.id, "output_index": idx, "item": js})
        self.emit({"type": "conversation.item.done", "item": js})

    def _ended(self, ex: Exchange, played: ReplyPlayed) -> None:
        ex.ended = True
        r = ex.response
        if r is None and played.reason in ("continued", "backchannel", "empty"):
            # no turn of its own: the user went on (its words are the next turn's), said "mhm" over
            # the reply, or said nothing the recogniser could hear
            for item_id in ex.user:
                if self.items.pop(item_id, None) is not None:
                    self.emit({"type": "conversation.item.deleted", "item_id": item_id})
            return
        for item_id in ex.user:  # a turn that failed before its transcript: its item is done too
            item = self.items.get(item_id)
            if item is not None and item.json["status"] == "in_progress":
                item.json["status"] = "incomplete"
                self.emit({"type": "conversation.item.done", "item": item.json})
        r = self._respond(ex)
        cut = played.reason == "interrupted"
        if played.text and r.message is None:  # a reply with no token of its own (a fast-path confirmation)
            self._said(ex, played.text)
        if r.message is not None:
            item = self.items[r.message]
            text = (ex.edit_after if ex.edit_after is not None else played.text) if cut else (r.text or played.text)
            idx = r.output.index(r.message)
            ids = {"response_id": r.id, "item_id": r.message, "output_index": idx, "content_index": 0}
            if r.audio:
                self.emit({"type": "response.output_audio.done", **ids})
                self.emit({"type": "response.output_audio_transcript.done", **ids, "transcript": text})
                part = {"type": "audio", "transcript": text}
            else:
                self.emit({"type": "response.output_text.done", **ids, "text": text})
                part = {"type": "text", "text": text}
            self.emit({"type": "response.content_part.done", **ids, "part": part})
            item.json.update(assistant_item(r.message, audio=r.audio, text=text,
                                            status="incomplete" if cut else "completed"))
            self.emit({"type": "response.output_item.done", "response_id": r.id, "output_index": idx,
                       "item": item.json})
            self.emit({"type": "conversation.item.done", "item": item.json})
        if cut and ex.edit_after is not None:
            self.controls.edit(ex.turn, reply=ex.edit_after)
        if played.reason == "interrupted":
            status, details = "cancelled", {"type": "cancelled",
                                            "reason": "client_cancelled" if ex.client_cancelled else "turn_detected"}
        elif played.reason == "error":
            status, details = "failed", {"type": "failed", "error": {"type": "server_error", "code": "pipeline_error",
                                                                     "message": "the reply failed (see the error event)"}}
        else:
            status, details = "completed", None
        self.emit({"type": "response.done", "response": self._response_json(r, status, details,
                                                                             self._records.pop(ex.turn, None))})
        while len(self.turns) > 256:  # a long conversation keeps the recent turns' state only
            del self.turns[next(iter(self.turns))]

    def _recorded(self, kind: str, rec: Any, gen: int) -> None:
        if kind != "turn" or gen != self._generation:
            return
        self.stats.turn(rec, self.cfg.v2v_budget_ms)
        self._records[rec.turn.id] = rec
        while len(self._records) > 32:
            del self._records[next(iter(self._records))]
        if self.omni_events:
            ex = self.turns.get(rec.turn.id)
            self.emit({"type": "omni.turn", "response_id": ex.response.id if ex and ex.response else None,
                       "v2v_ms": rec.v2v_ms, "v2v_budget_ms": self.cfg.v2v_budget_ms,
                       "stages": {k: {"ms": round(v.ms, 1), "budget_ms": v.budget_ms} for k, v in rec.stages.items()},
                       "acted": rec.acted, "interrupted": rec.interrupted, "reason": rec.reason})

    def _response_json(self, r: Response, status: str, details: dict[str, Any] | None = None,
                       rec: TurnRecord | None = None) -> dict[str, Any]:
        usage = None
        llm = rec.stages.get(self._llm) if rec is not None and self._llm else None
        if llm is not None and "prompt_tokens" in llm.extra:
            p, c = int(llm.extra.get("prompt_tokens") or 0), int(llm.extra.get("completion_tokens") or 0)
            usage = {"total_tokens": p + c, "input_tokens": p, "output_tokens": c,
                     "input_token_details": {"text_tokens": p, "cached_tokens": int(llm.extra.get("cached_tokens") or 0)},
                     "output_token_details": {"text_tokens": c}}
        return response_json(r.id, status=status, output=[self.items[i].json for i in r.output if i in self.items],
                             audio=r.audio, voice=self.settings.voice, conversation_id=self.conversation_id,
                             max_output_tokens=self.settings.max_output_tokens, details=details, usage=usage)


def _describe(scene: SceneFrame) -> str:
    """What the scene stage saw, in a line: its caption, else the text it read and the labels."""
    if scene.caption:
        return scene.caption
    parts = [" ".join(t.text for t in scene.text[:4])] if scene.text else []
    if scene.labels:
        parts.append(", ".join(lb.name for lb in scene.labels[:3]))
    return "; ".join(p for p in parts if p) or ("dark" if scene.dark else "nothing recognised")


def _item_text(item: Item) -> str:
    part = item.json["content"][0] if item.json.get("content") else {}
    return str(part.get("text") or part.get("transcript") or "")


def _heard(sentences: dict[int, list[Any]], ms: float) -> str:
    """The reply's words within its first `ms` of audio (in proportion within a sentence: piper
    gives no word timings), with an ellipsis where it was cut."""
    words: list[str] = []
    for _, (text, length) in sorted(sentences.items()):
        w = str(text).split()
        if ms >= length:
            words += w
            ms -= length
            continue
        n = int(len(w) * ms / length) if length else 0
        words += w[:n]
        if n < len(w) and words:
            words[-1] += "…"
        break
    return " ".join(words)
