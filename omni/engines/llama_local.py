"""A local chat model through llama-cpp-python, streaming, with its prompt prefix kept in KV cache.

The chat template from the GGUF renders the messages; the prompt tokens are compared with what
the context already holds, so only the new suffix (the latest user turn) is evaluated: the
system prompt and the history stay cached between turns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from omni.engines.jump_forward import fixed_next, starts_call
from omni.errors import ModelNotFoundError, ServiceError
from omni.models import hub_error, resolve

log = logging.getLogger(__name__)

Message = dict[str, Any]

EVAL_STEP = 64
"""Prompt tokens evaluated between two chances to stop (stream()). On 2 cores the 1.5B evaluates
~77 tokens/s: a cancelled turn stops within ~0.8 s, not after its whole note (226 tokens:
2.9 s); steps of 64 cost 3.5 % more than one batch, steps of 16 20 % (probe, 2026-12-05)."""


NO_SCHEMAS = ("line", "none")
"""The `tools_note` kinds that write no tool schema into the prompt."""


@dataclass
class LlamaSettings:
    model: str = "qwen2.5-coder-1.5b"
    n_ctx: int = 2048
    threads: int = 2
    max_tokens: int = 80
    temperature: float = 0.2
    top_p: float = 0.9
    seed: int = 7
    tools_note: str = "template"
    """How offered tools are written into the prompt: "template" (the chat template's own words
    and the JSON schemas) or "compact" (one line per tool; about a third of the tokens, which
    the prompt evaluation of every turn that offers a tool pays: bench/waterfall.py), "line"
    (no note: `tools_focus` naming the offered tools with what they do, before the user's words)
    or "none" (nothing). With "line" and "none" the model answers a tool turn in words, which the
    dialogue acts on when they claim an offered action; a call it writes anyway is still parsed
    and checked, and `tools_place` does not apply."""
    tools_place: str = "turn"
    """Where the tools note goes: "turn" (the offered tools, just before the user's words: a
    turn that offers one evaluates its note anew, 2-3 s on 2 cores) or "system" (every tool of
    the catalog, after the system prompt: evaluated once and cached with it; a turn that offers
    none bans the call, one that offers some may call only those)."""
    tools_focus: str = ""
    """With tools_note "line" (or "template" and tools_place "system"): a turn that offers tools
    has this line, `{names}` filled in with theirs (with "line", each with what it does), just
    before the user's words; "": none, and "line" is then "none" (the dialogue's is
    omni.dialogue.prompts.TOOLS_FOCUS)."""
    notes_ahead: bool = False
    """With tools_place "turn": a prefill of the next turn's start (system prompt and history)
    also reads the words every tools note starts with, or the whole note of the tools it is given
    (those the next turn offers again); false: the history alone (but see `note_again`)."""
    note_again: bool = True
    """With tools_place "turn" and notes_ahead off: a prefill given tools (those the next turn
    offers again: the turn just answered ran them) reads their whole note after the history; a
    prefill given none reads the history and the user's opener, as without it."""
    jump_forward: bool = True
    """A reply that opens a tool call: the parts of it the offered tools' schemas fix (keys,
    punctuation, a name or enum value once its start names it) are evaluated in one batch, not
    decoded a token at a time (omni.engines.jump_forward)."""
    no_repeat: int = 8
    """Tokens in a row of an earlier reply (`stream`'s `not_repeating`) that a reply may not
    say again: the token that would make such a run is never drawn (0: off)."""


@dataclass
class GenerationStats:
    """What one generation cost."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    forced_tokens: int = 0
    """Completion tokens evaluated in a batch, not decoded (jump_forward)."""


class LlamaChat:
    """Blocking API; call it from the engine's worker thread only."""

    streaming = True

    def __init__(self, settings: LlamaSettings) -> None:
        self.settings = settings
        self.llm: Any = None
        self._format: Any = None
        self._stop: list[str] = []
        self._call_tokens: list[int] = []
        self._notes: dict[str, str] = {}
        self.last = GenerationStats()

    def load(self, progress: Any) -> None:
        from llama_cpp import Llama

        s = self.settings
        res = resolve("llm", s.model, progress)
        progress(f"loading LLM {res.spec}", None)
        kw = dict(n_ctx=s.n_ctx, n_threads=s.threads, n_threads_batch=s.threads, seed=s.seed,
                  verbose=False)
        try:
            if res.kind == "hub":
                repo, _, file = res.location.rpartition("/")
                if not file.endswith(".gguf"):
                    raise ModelNotFoundError(f"hub id for a GGUF must end with the file: {res.spec}",
                                             hint="e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf")
                try:
                    self.llm = Llama.from_pretrained(repo_id=repo, filename=file, **kw)
                except Exception as e:
                    raise hub_error("llm", res.spec, e) from e
            else:
                self.llm = Llama(model_path=res.location, **kw)
        except (ValueError, RuntimeError) as e:
            raise ModelNotFoundError(f"cannot load GGUF model {res.location}: {e}") from e
        self._format = self._formatter()
        self._call_tokens = self._tool_call_tokens()

    def _tool_call_tokens(self) -> list[int]:
        """The special token(s) that open a tool call in this model's chat format (Qwen, Hermes:
        `<tool_call>`), banned when a reply must be words (tool_choice "none")."""
        out = []
        for mark in ("<tool_call>", "<|python_tag|>"):
            ids = self.llm.tokenize(mark.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                out.append(int(ids[0]))
        return out

    def _formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise ModelNotFoundError("the GGUF has no chat template (tokenizer.chat_template)",
                                     hint="use an instruct/chat model")
        def tok(key: str) -> str:
            i = meta.get(key)
            return self.llm.detokenize([int(i)], special=True).decode("utf-8", "ignore") if i else ""
        return Jinja2ChatFormatter(template=template, eos_token=tok("tokenizer.ggml.eos_token_id"),
                                   bos_token=tok("tokenizer.ggml.bos_token_id"))

    def tokens(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = (),
               prefix: str = "", catalog: Sequence[dict[str, Any]] = (), ahead: bool = False,
               opener: bool = False, note: str | None = None) -> list[int]:
        """The prompt for `messages` (and `tools`, rendered by the chat template); with `prefix`,
        the assistant's reply is started with that text, so generation continues it. With
        `tools_place` "system", the note of the whole `catalog` follows the system prompt instead.
        `ahead`: `messages` end before the next user turn, and the tools note goes after them.
        `opener`: the prompt ends with what the template writes before a user's words
        ("<|im_start|>user\n"), as read ahead: the next turn evaluates its words and the
        assistant's opener only (a few tokens fewer, ~25 ms each on 2 cores). `note`: this
        prompt's `tools_note` instead of the settings' ("template" for tools only a call can use)."""
        msgs = list(messages)
        kind = note or self.settings.tools_note
        if kind in NO_SCHEMAS:
            if tools and kind == "line" and self.settings.tools_focus and not ahead:
                msgs.insert(_last_user(msgs), {"role": "system", "content": self.settings.tools_focus.format(
                    names=", ".join(_described(t) for t in tools))})
            tools, catalog = (), ()
        if self.settings.tools_place == "system" and catalog:
            every = self.tools_note(catalog)
            if msgs and msgs[0].get("role") == "system":
                msgs[0] = {**msgs[0], "content": f"{msgs[0]['content']}\n\n{every}"}
            else:
                msgs.insert(0, {"role": "system", "content": every})
            if tools and self.settings.tools_focus and not ahead:
                names = ", ".join(t.get("function", t)["name"] for t in tools)
                msgs.insert(_last_user(msgs), {"role": "system", "content": self.settings.tools_focus.format(names=names)})
        elif tools:  # late in the prompt, so the cached prefix (system prompt, history) holds
            msgs.insert(len(msgs) if ahead else _last_user(msgs), {"role": "system", "content": self.tools_note(tools)})
        if opener:  # rendered with a user turn whose words are a mark, cut before the mark
            mark = "\x00omni-user\x00"
            rendered = self._format(messages=[*msgs, {"role": "user", "content": mark}], tools=None)
            at = rendered.prompt.rfind(mark)
            return self.llm.tokenize(rendered.prompt[:at].encode("utf-8"), add_bos=False, special=True) \
                if at > 0 else []
        rendered = self._format(messages=msgs, tools=None)
        stop = rendered.stop
        self._stop = stop if isinstance(stop, list) else ([stop] if stop else [])
        return self.llm.tokenize((rendered.prompt + prefix).encode("utf-8"), add_bos=False, special=True)

    def tools_note(self, tools: Sequence[dict[str, Any]]) -> str:
        """The chat template's own words for offering `tools` (what it would add to the system
        prompt), to go in a system message of their own just before the user's turn: a turn
        that offers no tools then shares the whole cached prompt prefix with one that does."""
        key = json.dumps(list(tools), sort_keys=True)
        note = self._notes.get(key)
        if note is None and self.settings.tools_note == "compact":
            note = self._notes[key] = compact_tools_note(tools)
        if note is None:
            mark = "\x00omni\x00"
            a = self._format(messages=[{"role": "system", "content": mark}], tools=list(tools)).prompt
            b = self._format(messages=[{"role": "system", "content": mark}], tools=None).prompt
            n = _shared_start(a, b)
            m = 0
            while m < min(len(a), len(b)) - n and a[-1 - m] == b[-1 - m]:
                m += 1
            note = self._notes[key] = a[n: len(a) - m].strip()
        return note

    def note_head(self, catalog: Sequence[dict[str, Any]]) -> str:
        """The words every turn's tools note starts with, whichever tools it offers (the chat
        template's "# Tools ... <tools>" before the first schema): "" when the notes of two
        tools share no start."""
        if len(catalog) < 2:
            return ""
        a, b = self.tools_note(catalog[:1]), self.tools_note(catalog[1:2])
        head = a[:_shared_start(a, b)]
        # up to the end of its last line: what follows it starts the first tool's own words
        return head[: head.rfind("\n") + 1] if "\n" in head else ""

    def _with_note_head(self, messages: Sequence[Message], catalog: Sequence[dict[str, Any]]) -> list[int]:
        """The prompt of `messages` followed by the start of a tools note, as a turn that offers
        tools renders it (the tokens up to it are the same; the last may merge differently, and
        is evaluated again)."""
        head = self.note_head(catalog)
        if not head:
            return []
        mark = "\x00omni-user\x00"
        whole = self._format(messages=[*messages, {"role": "system", "content": self.tools_note(catalog[:1])},
                                       {"role": "user", "content": mark}], tools=None).prompt
        at = whole.rfind(head, 0, whole.rfind(mark))
        if at < 0:
            return []
        return self.llm.tokenize(whole[: at + len(head)].encode("utf-8"), add_bos=False, special=True)

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` the context already holds."""
        held = self.llm.n_tokens
        n = 0
        for a, b in zip(self.llm._input_ids[:held], tokens):
            if a != b:
                break
            n += 1
        return n

    def close(self) -> None:
        """Free the model and its context now, not whenever the garbage collector gets to it."""
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def prefill(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = (), prefix: str = "",
                catalog: Sequence[dict[str, Any]] = (), ahead: bool = False, note: str | None = None) -> int:
        """Evaluate the prompt ahead of a `stream()` with the same arguments (only the part the
        context does not hold yet), so that generation can start at once. Returns the tokens
        evaluated. `ahead`: `messages` are the start of the next turn's prompt (the system
        prompt and the history), and the note of `tools` (those it will offer again) follows
        them; with none, the words every tools note starts with (see `note_head`)."""
        ahead = ahead and not prefix
        if (note or self.settings.tools_note) in NO_SCHEMAS:
            # the line goes before the user's words (tokens() writes it): nothing to read ahead
            catalog = ()
            tools = () if ahead else tools
        turn = self.settings.tools_place == "turn"
        if ahead and not self.settings.notes_ahead:
            tools = tools if self.settings.note_again and turn else ()
            catalog = [] if turn else catalog
        toks: list[int] = []
        if ahead and not tools and catalog and turn:
            toks = self._with_note_head(messages, catalog)
        elif ahead:  # (a note of `tools` goes before the user's opener, as in the turn's prompt)
            toks = self.tokens(messages, tools, prefix, catalog, ahead=ahead, opener=True, note=note)
        toks = toks or self.tokens(messages, tools, prefix, catalog, ahead=ahead, note=note)
        n = self.cached_prefix(toks)
        if n == len(toks):
            # all of it is held, and perhaps more: kept, not dropped. After a turn the user went
            # on from (a pause, then more words), the context holds that turn's prompt, whose
            # words start the next turn's; a generation reuses whatever prefix it shares
            return 0
        self.llm.n_tokens = n  # eval() drops the KV cache beyond this point
        self.llm.eval(toks[n:])
        return len(toks) - n

    def _bans(self, words_only: bool, replies: Sequence[str], at: int, earlier: Sequence[str] = ()) -> dict[str, Any]:
        """create_completion's arguments that ban the call tokens (`words_only`), at the first
        token of a reply (its prompt `at` tokens long) the first token of each of `replies`, and
        any token that would make a run of `no_repeat` tokens of one of the `earlier` replies.
        (llama-cpp-python loses both when given a logit bias and a processor: `list.extend`
        returns None; so with replies, one processor does all.)"""
        calls = self._call_tokens if words_only else []
        first = sorted({t[0] for r in replies if r.strip()
                        if (t := self.llm.tokenize(r.strip().encode(), add_bos=False, special=False))})
        runs = self._runs(earlier)
        if not first and not runs:
            return {"logit_bias": {t: float("-inf") for t in calls} if calls else None}
        lead = self.settings.no_repeat - 1

        def bans(input_ids: Any, scores: Any) -> Any:
            scores[calls] = -float("inf")
            if len(input_ids) == at and first:
                scores[first] = -float("inf")
            if runs and len(input_ids) - at >= lead:
                if (no := runs.get(tuple(int(t) for t in input_ids[len(input_ids) - lead:]))):
                    scores[list(no)] = -float("inf")
            return scores

        return {"logits_processor": [bans]}

    def _runs(self, earlier: Sequence[str]) -> dict[tuple[int, ...], set[int]]:
        """For each `no_repeat - 1` tokens in a row of the earlier replies, the tokens that
        follow them there."""
        n = self.settings.no_repeat
        runs: dict[tuple[int, ...], set[int]] = {}
        if n < 2:
            return runs
        for text in earlier:
            # (its first word as it starts a reply, and as it comes after a space within one)
            for form in (text.strip(), f" {text.strip()}") if text.strip() else ():
                toks = self.llm.tokenize(form.encode(), add_bos=False, special=False)
                for i in range(len(toks) - n + 1):
                    runs.setdefault(tuple(toks[i:i + n - 1]), set()).add(toks[i + n - 1])
        return runs

    def stream(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = (), prefix: str = "",
               max_tokens: int | None = None, temperature: float | None = None,
               words_only: bool = False, catalog: Sequence[dict[str, Any]] = (),
               note: str | None = None, not_starting: Sequence[str] = (),
               not_repeating: Sequence[str] = ()) -> Iterator[str]:
        """Yield the reply text piece by piece (after `prefix`, when one is given). `words_only`:
        the tools stay in the prompt (its cached prefix holds) but no tool call can start.
        `not_starting`: replies drawn before and not used; this one does not begin with the
        first token of any of them (nor applies after a `prefix`: the reply has begun).
        `not_repeating`: earlier replies of the conversation; this one says no `no_repeat`
        tokens in a row of them again (a tool call's fixed parts, written by `_call_rest`, are
        not held to it)."""
        s = self.settings
        max_tokens = s.max_tokens if max_tokens is None else max_tokens
        toks = self.tokens(messages, tools, prefix, catalog, note=note)
        if len(toks) + max_tokens > s.n_ctx:
            raise ServiceError(f"prompt of {len(toks)} tokens does not fit the context of {s.n_ctx}",
                               hint="lower the dialogue memory's max_tokens or raise n_ctx")
        stats = GenerationStats(prompt_tokens=len(toks), cached_tokens=self.cached_prefix(toks))
        self.last = stats
        if len(toks) - stats.cached_tokens > EVAL_STEP:
            # a long prompt (a tools note) is evaluated a step at a time, with an empty piece
            # between steps: a consumer that stops (the turn was cancelled) stops it there, and
            # the next turn does not wait seconds for a prompt nobody will read the reply to
            self.llm.n_tokens = stats.cached_tokens  # eval() drops the KV cache beyond this point
            for i in range(stats.cached_tokens, len(toks), EVAL_STEP):
                self.llm.eval(toks[i:i + EVAL_STEP])
                if i + EVAL_STEP < len(toks):
                    yield ""
        it = self.llm.create_completion(prompt=toks, max_tokens=max_tokens,
                                        temperature=s.temperature if temperature is None else temperature,
                                        top_p=s.top_p, stop=self._stop, stream=True, seed=s.seed,
                                        **self._bans(words_only, () if prefix else not_starting, len(toks), not_repeating))
        jump = s.jump_forward and bool(tools) and not words_only and not prefix
        said, opened = "", False
        try:
            for chunk in it:
                choice = chunk["choices"][0]
                if choice.get("finish_reason"):
                    stats.finish_reason = choice["finish_reason"]
                text = choice.get("text", "")
                if text:
                    stats.completion_tokens += 1
                    said += text
                    yield text
                    if jump:
                        opens = starts_call(said)
                        if opens:
                            opened = True
                            break  # the rest of the call: below, what its schemas fix in one batch
                        jump = opens is None
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
        if opened:
            yield from self._call_rest(toks, said, tools, max_tokens, temperature, stats)

    def _call_rest(self, toks: list[int], said: str, tools: Sequence[dict[str, Any]], max_tokens: int,
                   temperature: float | None, stats: GenerationStats) -> Iterator[str]:
        """Write on a reply that opened a tool call with `said`: what the offered tools' schemas
        fix is evaluated in one batch with the token before it, the rest sampled a token at a
        time, as create_completion would (the sampler it left, the same settings and seed)."""
        import llama_cpp

        llm, s = self.llm, self.settings
        temp = s.temperature if temperature is None else temperature
        vocab = llm._model.vocab
        text = said
        held: list[int] = []  # sampled tokens whose bytes do not make a whole character yet
        pending = b""
        while True:
            forced = "" if held else fixed_next(text, tools)
            if forced:
                text += forced
                stats.forced_tokens += len(llm.tokenize(forced.encode("utf-8"), add_bos=False, special=True))
                yield forced
            full = toks + llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) + held
            stats.completion_tokens = len(full) - len(toks)
            if stats.completion_tokens >= max_tokens:
                stats.finish_reason = "length"
                return
            n = min(self.cached_prefix(full), len(full) - 1)
            llm.n_tokens = n  # eval() drops the KV cache beyond this point
            llm.eval(full[n:])
            tok = llm.sample(top_k=40, top_p=s.top_p, min_p=0.05, temp=temp)
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                stats.finish_reason = "stop"
                return
            data = pending + llm.detokenize([tok], prev_tokens=full)
            try:
                piece, pending, held = data.decode("utf-8"), b"", []
            except UnicodeDecodeError:
                if len(data) < 4:  # the rest of the character is in the next token(s)
                    pending = data
                    held.append(tok)
                    yield ""  # (not text: a chance to stop, as between prompt steps)
                    continue
                piece, pending, held = data.decode("utf-8", "replace"), b"", []
            before, text = len(text), text + piece
            at = min((i for st in self._stop if (i := text.find(st, max(0, before - len(st) + 1))) >= 0),
                     default=-1)
            if at >= 0:
                if at > before:
                    yield text[before:at]
                stats.finish_reason = "stop"
                return
            yield piece


def _last_user(msgs: Sequence[Message]) -> int:
    """Where the last user message is (the end, when there is none): a note for the turn goes
    just before it."""
    return max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=len(msgs))


def _shared_start(a: str, b: str) -> int:
    """How many leading characters `a` and `b` have in common."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _described(tool: dict[str, Any]) -> str:
    """A tool's name with what it does: "volume (turn the speaker volume up or down)"."""
    f = tool.get("function", tool)
    what = str(f.get("description", "")).strip().rstrip(".")
    return f"{f['name']} ({what[:1].lower() + what[1:]})" if what else str(f["name"])


def compact_tools_note(tools: Sequence[dict[str, Any]]) -> str:
    """The tools in one line each, with the call format the model was trained on:

        # Tools
        You may call these functions:
        - volume(direction: "up" | "down"): Turn the speaker volume up or down.
        To call one, reply with <tool_call>{"name": ..., "arguments": {...}}</tool_call> and nothing else."""
    lines = ["# Tools", "You may call these functions:"]
    for t in tools:
        fn = t.get("function", t)
        params = fn.get("parameters") or {}
        required = set(params.get("required") or [])
        args = []
        for name, spec in (params.get("properties") or {}).items():
            if "enum" in spec:
                kind = " | ".join(json.dumps(v) for v in spec["enum"])
            else:
                kind = str(spec.get("type", "any"))
            args.append(f"{name}{'' if name in required else '?'}: {kind}")
        lines.append(f"- {fn['name']}({', '.join(args)}): {fn.get('description', '').strip()}")
    lines.append('To call one, reply with <tool_call>{"name": ..., "arguments": {...}}</tool_call> and nothing else.')
    return "\n".join(lines)
