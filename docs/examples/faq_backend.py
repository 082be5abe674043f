"""A chat backend of your own: answers from a list of questions and answers, and fails over (to
the next backend in `routing.order`) on anything else. In a pipeline file, on the dialogue stage:

    backends:
      faq: {type: custom, cls: "faq_backend:FaqBackend",
            settings: {answers: {"opening hours": "We are open from nine to five."}}}
      local: {type: llama.cpp}
    routing: {order: [faq, local]}
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from omni.dialogue.backends import ChatBackend
from omni.dialogue.types import ChatRequest, Delta, Finished, Started, TextDelta, Usage
from omni.errors import ServiceError


class FaqBackend(ChatBackend):
    offline = True

    async def stream(self, req: ChatRequest) -> AsyncIterator[Delta]:
        said = str(req.messages[-1].get("content", "")).lower()
        answers: dict[str, str] = self.options.settings.get("answers", {})  # type: ignore[attr-defined]
        reply = next((a for key, a in answers.items() if key.lower() in said), None)
        if reply is None:
            raise ServiceError(f"{self.name}: no answer for {said!r}", retryable=True)
        yield Started()
        for word in reply.split(" "):
            yield TextDelta(word + " ")
        yield Finished(usage=Usage(prompt_tokens=len(said) // 4, completion_tokens=len(reply) // 4))
