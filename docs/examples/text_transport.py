"""A transport of your own: questions as text in, the replies' words out (a chat window, a test
harness, a bridge to a messaging app). It is a Server: it gets a session factory, opens one
text-only conversation (no TTS, no speaker: a turn ends when its text is complete) and asks
each question in turn, streaming each reply's words as they are written. Run it like any server:

    async with Host() as host:
        await host.serve(load_pipeline("desktop"), TextTransport(["What is the capital of France?"]))
"""

from __future__ import annotations

from omni.frames import Turn
from omni.transports.base import Server, SessionFactory


class TextTransport(Server):
    name = "text"

    def __init__(self, questions: list[str]) -> None:
        self.questions = list(questions)
        self.replies: list[str] = []
        self.pieces: list[str] = []
        """The reply text as it was written, piece by piece (what a chat window would show)."""

    def on_text(self, turn: Turn, text: str) -> None:  # a TextOutput: the reply as it is written
        self.pieces.append(text)

    def on_reply(self, turn: Turn, text: str, reason: str) -> None:  # ...and its end
        pass

    async def serve(self, sessions: SessionFactory) -> None:
        """One conversation: each question once the previous reply is complete; then done."""
        async with sessions.session(audio_out=False, text=self) as conv:
            for q in self.questions:
                turn = conv.ask(q)
                self.replies.append(await conv.reply(turn))
