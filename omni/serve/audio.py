"""OpenAI's audio routes on the pipeline's engines: `/v1/audio/transcriptions` (its recogniser,
any common audio format as a file upload) and `/v1/audio/speech` (its piper voice: wav or pcm,
the pcm streamed as it is made)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omni.app.calls import Calls
from omni.audio import read_audio
from omni.audio.io import wav_bytes
from omni.errors import OmniError
from omni.serve.realtime.protocol import OPENAI_VOICES
from omni.serve.rest import error, read_json
from omni.app.prometheus import Stats

logging.getLogger("python_multipart").setLevel(logging.ERROR)  # a broken upload is answered with a 400, not logged
MAX_UPLOAD = 25 * 2**20
"""OpenAI's own limit for a file to transcribe."""
PCM_RATE = 24000
"""`response_format: pcm` is 24 kHz 16-bit mono little-endian (as OpenAI's)."""


class SpeechBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "omni"
    input: str = Field(min_length=1, max_length=4096)
    voice: str | dict[str, Any] | None = None
    response_format: str = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: str = "audio"


def routes(calls: Calls, stats: Stats) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/audio/transcriptions", response_model=None)
    async def transcriptions(request: Request) -> Any:
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=MAX_UPLOAD)
        except Exception as e:  # noqa: BLE001 (not a form, a part too big: the parser says which)
            return error(400, f"send the audio as multipart/form-data with a \"file\" part: {e}")
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return error(400, "no \"file\" part: send the audio as a file upload", param="file")
        fmt = str(form.get("response_format") or "json")
        if fmt not in ("json", "text", "verbose_json"):
            return error(400, f"response_format {fmt[:20]!r}: omni gives json, text or verbose_json",
                         param="response_format")
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return error(413, f"the file is over {MAX_UPLOAD // 2**20} MB", param="file")
        try:
            audio = await asyncio.to_thread(_decode, data, upload.filename or "upload")
        except OmniError as e:
            return error(400, str(e), param="file")
        t0 = time.monotonic()
        heard = await calls.transcribe(audio, 16000)
        stats.audio.labels("transcriptions").observe(time.monotonic() - t0)
        if fmt == "text":
            return PlainTextResponse(heard.text + "\n")
        if fmt == "verbose_json":
            return {"task": "transcribe", "language": heard.language or "english",
                    "duration": round(len(audio) / 16000, 3), "text": heard.text, "segments": []}
        return {"text": heard.text}

    @api.post("/v1/audio/speech", response_model=None)
    async def speech(request: Request) -> Any:
        try:
            body = SpeechBody.model_validate(await read_json(request))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(map(str, err["loc"])) or "body"
            return error(400, f"{loc}: {err['msg']}", param=str(err["loc"][0]) if err["loc"] else None)
        except (ValueError, RecursionError):
            return error(400, "the body is not JSON (or nests too deeply)")
        if body.response_format not in ("wav", "pcm"):
            return error(400, f"response_format {body.response_format[:20]!r}: omni gives wav or pcm",
                         param="response_format")
        if body.stream_format != "audio":
            return error(400, "stream_format: omni streams audio (pcm) only", param="stream_format")
        options: dict[str, Any] = {}
        voice = body.voice.get("id") if isinstance(body.voice, dict) else body.voice
        if voice and voice not in OPENAI_VOICES:
            options["voice"] = voice
        if body.speed != 1.0:
            options["length_scale"] = round(1.0 / body.speed, 3)
        stream = calls.speak(body.input, **options)
        try:
            rate = await calls.rate_of(options["voice"]) if "voice" in options else None
            first = await anext(stream)  # a voice that cannot load is a 400, before any audio goes out
        except (OmniError, ValueError, StopAsyncIteration) as e:
            await stream.aclose()
            return error(400, str(e) or "nothing to say", param="voice" if "voice" in options else "input")
        rate = rate or calls.sample_rate
        t0 = time.monotonic()

        if body.response_format == "wav":
            chunks = [first, *[c async for c in stream]]
            stats.audio.labels("speech").observe(time.monotonic() - t0)
            return Response(wav_bytes(np.concatenate(chunks), rate), media_type="audio/wav")

        async def pcm() -> AsyncIterator[bytes]:
            rs = soxr.ResampleStream(rate, PCM_RATE, 1, dtype="float32")
            try:
                yield _pcm16(rs.resample_chunk(first))
                async for c in stream:
                    yield _pcm16(rs.resample_chunk(c))
                yield _pcm16(rs.resample_chunk(np.zeros(0, np.float32), last=True))
            finally:
                await stream.aclose()
                stats.audio.labels("speech").observe(time.monotonic() - t0)

        return StreamingResponse(pcm(), media_type="audio/pcm")

    return api


def _decode(data: bytes, name: str) -> np.ndarray:
    suffix = Path(name).suffix[:8] if Path(name).suffix.isascii() else ""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return read_audio(f.name, 16000).samples


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
