"""The everyday set through omni's dialogue, in conversations, judged as a listener would.

    python bench/quality.py --parts text      # the items' words as transcripts (minutes)
    python bench/quality.py --parts spoken    # each item spoken in one of the set's voices, the
                                              # recogniser's transcript into the dialogue, and the
                                              # real recordings' sentences as read by people

A conversation is a few items in the file's order (a follow-up stays with the turn it refers to):
the dialogue keeps its history within one and starts afresh at the next, as a user would over a
day. Every reply goes through bench/usefulness.Judge; both halves of the set (dev, held) are
reported side by side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import yaml

from usefulness import Judge, by_kind, tally

ROOT = Path(__file__).resolve().parents[1]
EVERYDAY = ROOT / "bench" / "quality" / "everyday.yaml"
SR = 16000
CLOCK = dt.datetime(2026, 11, 25, 14, 5)
"""The time and date every turn of a run is told (a Wednesday afternoon)."""
CONVERSATION = 6
"""Items per conversation (a follow-up chain is never split)."""


def everyday(split: str | None = None) -> list[dict[str, Any]]:
    items = yaml.safe_load(EVERYDAY.read_text())["items"]
    return [it for it in items if split in (None, "both", it.get("split"))]


def conversations(items: list[dict[str, Any]], size: int = CONVERSATION) -> list[list[dict[str, Any]]]:
    """Items in order, cut into conversations of about `size`, never between an item and its follow-up."""
    out: list[list[dict[str, Any]]] = [[]]
    for it in items:
        if len(out[-1]) >= size and not it.get("after"):
            out.append([])
        out[-1].append(it)
    return [c for c in out if c]


def dialogue_judge(stage: Any) -> Judge:
    """A judge that knows every text this dialogue stage may send its model, and its canned lines."""
    from omni.dialogue.prompts import instruction_texts

    o = stage.options
    canned = {"unsure": getattr(o, "unsure_reply", ""), "not_done": getattr(o, "not_done_reply", ""),
              "fallback": o.fallback_reply, "refusal": o.refusal, "say_again": getattr(o, "say_again", ""),
              "acknowledge": getattr(o, "acknowledge", ""), "cannot_tell": getattr(o, "cannot_tell", ""),
              "self": getattr(o, "self_reply", "")}
    encode = stage.intents.model.encode if getattr(stage.intents, "model", None) is not None else None
    from omni.dialogue.prompts import can_do

    can = can_do(o.actions, o.tools.builtin).split("; ") if hasattr(o, "actions") else []
    if hasattr(stage, "instructions"):
        return Judge(stage.instructions(), canned, encode, capabilities=can)
    # an older dialogue stage (a 'before' run): the same texts, gathered here
    extra = [t["function"]["description"] for t in stage.tools.schemas()]
    extra += [n for n in (getattr(o, "not_a_request_note", None), getattr(o, "unknown_note", None)) if n]
    local = getattr(stage, "_local", None)
    engine = getattr(local, "engine", None)
    if engine is not None and getattr(engine, "llm", None) is not None:
        extra.append(engine.tools_note(stage.tools.schemas()))
    return Judge(instruction_texts(stage._system_prompt(), extra), canned, encode, capabilities=can)


async def run_dialogue(convs: list[list[dict[str, Any]]], overrides: list[str], heard: dict[str, str] | None = None,
                       confidence: dict[str, float | None] | None = None
                       ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each conversation through the desktop pipeline's dialogue stage; `heard`: what the
    recogniser made of each item (by id), said instead of its text. Returns the judged items and
    the timings."""
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR
    from omni.dialogue.memory import Memory
    from omni.frames import ReplyDone, Transcript, Turn
    from omni.runtime import Pipeline
    from omni.runtime.metrics import TurnRecorder, percentile
    from omni.stages import build_stage

    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml", overrides)
    spec = next(s for s in cfg.stages if s.kind == "dialogue")
    stage = build_stage(spec)
    rec = TurnRecorder({spec.name: spec.budget_ms}, done_stage=spec.name)
    done = asyncio.Event()

    class Done:
        def on_frame(self, name: str, frame: Any) -> None:
            if isinstance(frame, ReplyDone) and name == spec.name:
                done.set()

    pipe = Pipeline([stage], observers=[rec, Done()], reporter=rec.report)
    # one clock for every run: the time a tool tells enters the history, and a run at 07:42 and
    # one at 09:05 otherwise read different words from there on (and drew other replies)
    stage.tools.clock = lambda: CLOCK
    t0 = time.monotonic()
    await pipe.load(lambda *a: None)
    load_s = time.monotonic() - t0
    seq = [(ci, it) for ci, c in enumerate(convs) for it in c]
    ms: list[float] = []
    at: dict[int, float] = {}

    async def source():  # noqa: ANN202
        last = None
        for i, (ci, it) in enumerate(seq):
            # the user hears the reply before saying the next thing: what the dialogue reads
            # ahead meanwhile is done (back to back, the next turn would wait for it)
            await stage.idle()
            if ci != last and last is not None:  # a new conversation: nothing remembered, no timer left
                stage.memory = Memory(stage._system_prompt(), stage.options.memory, stage.memory.count)
                await stage.tools.aclose()  # (the set's timers would fill max_timers in one run)
                stage.tools.ran.clear()  # what omni did is the conversation's, as a new session's would be
                stage._follows = ()
            last = ci
            done.clear()
            t = time.monotonic()
            at[i + 1] = CLOCK.timestamp()
            text = heard.get(it["id"], it["text"]) if heard else it["text"]
            yield Transcript(turn=Turn(id=i + 1, speech_start=i * SR, speech_end=i * SR + 1, t_speech_end=t,
                                       sample_rate=SR), text=text,
                             confidence=(confidence or {}).get(it["id"]))
            await done.wait()
            ms.append((time.monotonic() - t) * 1000)
            r = rec.finished[-1].as_dict() if rec.finished else {}
            if it.get("split", "dev") == "dev":  # the held half is measured, never read item by item
                print(f"    {it['id']:>6} {it['kind']:<11} {text[:48]!r:<52} -> {r.get('reply', '')[:90]!r}", flush=True)

    judge = None
    try:
        await pipe.run(source())
        judge = dialogue_judge(stage)
        by_turn = {r.turn.id: r.as_dict() for r in rec.finished}
        judged = []
        for i, (ci, it) in enumerate(seq):
            r = by_turn.get(i + 1, {})
            llm = r.get("stages", {}).get(spec.name, {})
            acts = {a["action"]: a["args"] for a in r.get("actions", [])}
            tools = [t for t in llm.get("tool_calls", []) if t in ("get_time", "set_timer")]
            reason = str(llm.get("reason", ""))
            tools += [t for t in ("get_time", "set_timer") if f"intent {t}" in reason]
            earlier = [(j["said"], j["reply"]) for j in judged if j["conv"] == ci]
            j = judge(it, r.get("reply", ""), said=r.get("transcript") or it["text"], actions=acts, tools=tools,
                      now=at.get(i + 1), earlier=earlier)
            j.update(backend=llm.get("backend"), first_ms=llm.get("ms"), at=at.get(i + 1), conv=ci)
            if llm.get("retried"):  # every word of a first sample dropped; this is the next one
                j["retried"] = llm["retried"]
            judged.append(j)
    finally:
        await pipe.aclose()
    first = [j["first_ms"] for j in judged if j["first_ms"] is not None and j["backend"] not in (None, "intent", "say")]
    timing = {"load_s": round(load_s, 1), "reply_ms_p50": percentile(ms, 50),
              "llm_first_token_ms_p50": percentile(first, 50), "llm_turns": len(first)}
    return judged, timing


async def rejudge(judged: list[dict[str, Any]], overrides: list[str],
                  items: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A saved run's replies judged again by today's judge (the dialogue stage is loaded for
    the texts it writes for its model; nothing is asked of the model). `items`: the run's items
    by id (bench/requests.py's); the everyday set's and the real recordings' by default."""
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR
    from omni.stages import build_stage

    import spoken

    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml", overrides)
    stage = build_stage(next(s for s in cfg.stages if s.kind == "dialogue"))
    await stage.load(lambda *a: None)
    try:
        judge = dialogue_judge(stage)
        if items is None:
            items = {it["id"]: it for it in [*everyday(), *spoken.real_items()]}
            convs = _conversation_of(judged, items)
        else:  # (bench/requests.py cuts its items in the order saved, six to a conversation)
            convs = [j["conv"] for j in judged] if all("conv" in j for j in judged) else \
                [ci for ci, c in enumerate(conversations([items[j["id"]] for j in judged])) for _ in c]
        out: list[dict[str, Any]] = []
        for j, ci in zip(judged, convs):
            earlier = [(e["said"], e["reply"]) for e in out if e["conv"] == ci]
            out.append({**judge({**items[j["id"]], "voice": j.get("voice")}, j["reply"], said=j["said"],
                                actions=j["actions"], tools=j["tools"], now=j.get("at"), earlier=earlier),
                        **{k: j.get(k) for k in ("backend", "first_ms", "at", "confidence", "word_errors")},
                        "conv": ci, **({"retried": j["retried"]} if j.get("retried") else {})})
        return out
    finally:
        await stage.aclose()


def _conversation_of(judged: list[dict[str, Any]], items: dict[str, dict[str, Any]]) -> list[int]:
    """Which conversation each saved item was in: saved, or (a run from before that was saved)
    cut again as run_parts cut it, the everyday items and then the real recordings' sentences."""
    if all("conv" in j for j in judged):
        return [j["conv"] for j in judged]
    real = [j for j in judged if j["id"] not in {it["id"] for it in everyday()}]
    parts = conversations([items[j["id"]] for j in judged if j not in real]) + \
        conversations([items[j["id"]] for j in real], 4)
    return [ci for ci, c in enumerate(parts) for _ in c]


def report(judged: list[dict[str, Any]]) -> dict[str, Any]:
    """Tallies for each half of the set, and by kind."""
    out = {}
    for half in ("dev", "held"):
        js = [j for j in judged if j.get("split", "dev") == half]
        if js:
            out[half] = {**tally(js), "by_kind": by_kind(js)}
    return out


def print_report(title: str, rep: dict[str, Any]) -> None:
    print(f"\n{title}")
    keys = ["useful", "useful_pct", "silent", "echo", "prompt_read", "canned", "refused", "off_topic", "tool_talk", "wrong_fact",
            "wrong_action", "dishonest", "made_up", "forgets", "pretends", "repeats", "mood", "facts_right", "commands_right", "honest_no"]
    print(" | ".join(["half", *keys]))
    for half, r in rep.items():
        print(" | ".join([half, *(str(r.get(k, "")) for k in keys)]))
    for half, r in rep.items():
        print(f"  {half} by kind: {r['by_kind']}; canned: {r['canned_lines']}")


def failures(judged: list[dict[str, Any]], split: str = "dev", n: int = 60) -> None:
    """The dev half's failed replies, to read (the held half is never printed item by item)."""
    bad = [j for j in judged if not j["useful"] and j.get("split") == split]
    for j in bad[:n]:
        print(f"  {j['id']:>6} {j['kind']:<10} {','.join(j['faults']):<22} {j['said'][:50]!r} -> {j['reply'][:100]!r}")


async def run_parts(parts: list[str], split: str, overrides: list[str], out: dict[str, Any],
                    show_failures: bool = False) -> None:
    """bench/quality.py's text and spoken parts: the everyday set's words as transcripts (text),
    and as heard from voices (spoken); useful replies, into `out`."""
    import spoken

    rows = everyday(split)
    what = ", ".join(overrides) or "defaults"
    if "text" in parts:
        print(f"text: {len(rows)} everyday turns as transcripts ({split}):", flush=True)
        judged, timing = await run_dialogue(conversations(rows), overrides)
        out["text"] = {**report(judged), "timing": timing, "items": judged}
        print_report(f"text ({what}): {timing}", report(judged))
        if show_failures:
            failures(judged)
    if "spoken" in parts:
        heard, stt = await spoken.hear(rows, overrides)
        judged, timing = await run_dialogue(conversations(rows) + conversations(spoken.real_items(), 4), overrides,
                                            heard=heard, confidence=stt["confidence"])
        for j in judged:
            j["confidence"], j["word_errors"] = stt["confidence"].get(j["id"]), stt["word_errors"].get(j["id"])
        stt = {k: v for k, v in stt.items() if k not in ("confidence", "word_errors")}
        out["spoken"] = {**report(judged), "timing": {**timing, **stt}, "items": judged,
                         "by_voice": spoken.by_voice(judged)}
        print_report(f"spoken ({what}): {timing} {stt}", report(judged))
        print(f"  by voice: {out['spoken']['by_voice']}")
        if show_failures:
            failures(judged)


async def rescore(path: Path, show_failures: bool = False) -> None:
    """A saved run's text and spoken parts judged again, written back to `path`."""
    import json

    old = json.loads(path.read_text())
    for part in ("text", "spoken"):
        if part in old:
            judged = await rejudge(old[part]["items"], old.get("overrides", []))
            old[part] = {**old[part], **report(judged), "items": judged}
            print_report(f"{part} (judged again)", report(judged))
            if show_failures:
                failures(judged)
    path.write_text(json.dumps(old, indent=1, default=str) + "\n")
