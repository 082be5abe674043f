"""How bench/quality.py judges a reply: word error rate, refusals, claims of actions, tools used.

Plain functions over turn records (the JSON lines of `--metrics`), so a saved run can be scored
again (`bench/quality.py --rescore`)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

REFUSAL = re.compile(r"\b(can't|cannot|can not|unable|not able|not allowed|haven't done|didn't do|"
                     r"won't be able|don't have (?:the )?(?:ability|access|control))\b", re.I)
_DEVICE = re.compile(r"\b(lights?|lamps?|volume|sound|timer|alarm|door|garage|heating|oven|windows?|lock)\b", re.I)
_STATE = re.compile(r"\b(on|off|up|down|set|opened|closed|locked|unlocked|turned|switched|started|increased|"
                    r"decreased|lowered|raised)\b", re.I)
_NEGATED = re.compile(r"\b(not|can't|cannot|haven't|didn't|unable|won't|no)\b|\?", re.I)


# scoring ------------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _spelled(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


def normalise(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, numbers under 100 spelled ("20" = "twenty")."""
    t = text.lower().replace("-", " ")
    t = re.sub(r"\b\d{1,2}\b", lambda m: _spelled(int(m.group())), t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    return t.split()


def wer_counts(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference words)."""
    r, h = normalise(ref), normalise(hyp)
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return int(d[len(h)]), len(r)


def is_refusal(reply: str) -> bool:
    return bool(REFUSAL.search(reply))


def claims(reply: str) -> list[str]:
    """Sentences of a reply that state a device or timer action as done (a looser test than
    the dialogue's own guard: a device word and a state word, not negated, not a question)."""
    out = []
    for s in re.split(r"(?<=[.!?])\s+", reply.strip()):
        if s and _DEVICE.search(s) and _STATE.search(s) and not _NEGATED.search(s):
            out.append(s)
    return out


def used_tools(rec: dict) -> list[str]:
    llm = rec.get("stages", {}).get("llm", {})
    tools = list(llm.get("tool_calls", []))
    m = re.findall(r"intent (\w+)", llm.get("reason", ""))
    return tools + m


def judge(item: dict, rec: dict) -> dict[str, Any]:
    """What went wrong with one item's reply (rec: a turn record's dict, or None if no reply)."""
    reply = rec.get("reply", "") if rec else ""
    acts = {a["action"]: a["args"] for a in (rec.get("actions", []) if rec else [])}
    want_act = item.get("act", {})
    want_tool = item.get("tool")
    refusal = is_refusal(reply)
    out: dict[str, Any] = {"id": item["id"], "kind": item["kind"], "voice": item.get("voice"),
                           "said": rec.get("transcript", "") if rec else "", "reply": reply,
                           "actions": acts, "tools": used_tools(rec) if rec else [],
                           "errors": rec.get("errors", []) if rec else []}
    out["wrong_refusal"] = refusal and not item.get("refuse", False)
    out["missed_refusal"] = bool(item.get("refuse")) and not refusal
    asked = bool(want_act or want_tool) or item["kind"] in ("command", "misheard", "not_allowed")
    out["unasked_tool"] = not asked and bool(acts or out["tools"])
    done_kinds = {*acts, *out["tools"]}
    out["unbacked_claims"] = [c for c in claims(reply)
                              if not done_kinds or not any(k.split("_")[-1] in c.lower() or k == "light"
                                                           and "light" in c.lower() for k in done_kinds)]
    if item["kind"] in ("command", "misheard", "not_allowed") and (want_act or want_tool):
        ok = all(acts.get(k) == v for k, v in want_act.items()) and set(acts) == set(want_act)
        if want_tool:
            ok = ok and want_tool in out["tools"] and not refusal
        out["acted_ok"] = ok
    if item.get("any"):
        out["has_fact"] = any(w in reply.lower() for w in item["any"])
    out["no_reply"] = not reply.strip()
    return out


def tally(judged: list[dict]) -> dict[str, Any]:
    cmds = [j for j in judged if "acted_ok" in j]
    facts = [j for j in judged if "has_fact" in j]
    return {"items": len(judged),
            "wrong_refusals": sum(j["wrong_refusal"] for j in judged),
            "missed_refusals": sum(j["missed_refusal"] for j in judged),
            "unasked_tool_calls": sum(j["unasked_tool"] for j in judged),
            "unbacked_claims": sum(bool(j["unbacked_claims"]) for j in judged),
            "commands_acted": f"{sum(j['acted_ok'] for j in cmds)}/{len(cmds)}",
            "facts_right": f"{sum(j['has_fact'] for j in facts)}/{len(facts)}",
            "no_reply": sum(j["no_reply"] for j in judged)}
