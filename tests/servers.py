"""Real servers for the dialogue tests and bench: llama-cpp-python's OpenAI-compatible server
with the bundled model, and a TCP server that accepts and never answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

from omni.models import resolve


ALIAS = "qwen-local"
"""The name the test server gives its model."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m llama_cpp.server` with the pipelines' default model on a free loopback port."""
    from omni.dialogue.backends import LlamaBackendOptions

    gguf = resolve("llm", LlamaBackendOptions().model).location
    port = free_port()
    log = tempfile.TemporaryFile("w+")  # a pipe would fill up and stall the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2",
         "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited {proc.returncode}: {log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not come up in 120 s")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def remote(url: str, **kw: Any) -> dict[str, Any]:
    return {"type": "openai", "base_url": url, "model": ALIAS, "api_key_env": None, **kw}


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections, reads the request, and never answers."""
    conns: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass

    srv = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for w in conns:
            w.close()
        await asyncio.gather(*handlers, return_exceptions=True)  # they see EOF and return
        srv.close()
        await srv.wait_closed()


@contextlib.asynccontextmanager
async def stalling_server(pieces: list[str]) -> AsyncIterator[str]:
    """An OpenAI-compatible chat endpoint that streams `pieces` as the start of a reply, then
    sends nothing more (a backend that stalls mid-reply)."""
    import json

    handlers: list[asyncio.Task] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            for i, text in enumerate(pieces):
                delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
                chunk = {"id": "stall", "object": "chat.completion.chunk", "created": 0, "model": ALIAS,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                writer.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                await writer.drain()
            while await reader.read(4096):  # and then nothing, until the client goes
                pass
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        srv.close()
        for t in handlers:
            t.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await srv.wait_closed()
