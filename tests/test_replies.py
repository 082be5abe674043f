"""What a person hears back, judged as they would judge it (bench/usefulness.py, the judge of the
quality bench), on voices that are not the assistant's: the whole desktop pipeline on espeak-ng
voices, with the real default models. A reply that is silent, says the user's words back, reads
omni's prompt out, is a canned line, refuses, or misses the fact fails here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, silence, voice

sys.path.insert(0, str(ROOT / "bench"))
from usefulness import Judge  # noqa: E402

from omni.app.cli import main  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.stages import build_stage  # noqa: E402

pytestmark = pytest.mark.slow
SR = 16000
ITEMS = [
    {"id": "italy", "kind": "fact", "text": "What is the capital of Italy?", "any": ["rome"]},
    {"id": "sea", "kind": "statement", "text": "My sister just moved to a little flat by the sea.",
     "topic": ["sea", "sister", "flat", "move", "moving", "beach", "ocean", "coast", "water", "view"]},
    {"id": "television", "kind": "not_allowed", "text": "Please turn on the television.", "refuse": True},
]


@pytest.fixture(scope="module")
def judge() -> Judge:
    """The judge, knowing every text the desktop dialogue writes for its model and its canned lines."""
    cfg = load_pipeline("desktop")
    stage = build_stage(next(s for s in cfg.stages if s.kind == "dialogue"))
    o = stage.options
    return Judge(stage.instructions(), {"unsure": o.unsure_reply, "not_done": o.not_done_reply,
                                        "fallback": o.fallback_reply, "refusal": o.refusal,
                                        "say_again": o.say_again, "acknowledge": o.acknowledge})


def session(tmp_path: Path, lines: list[tuple[str, str]], gap_s: float = 5.0) -> list[dict]:
    audio = np.concatenate([silence(0.5), *(x for name, who in lines for x in (voice(name, who), silence(gap_s)))])
    wav = tmp_path / "in.wav"
    write_wav(wav, audio, SR)
    code = main(["desktop", "--audio-in", str(wav), "--audio-out", str(tmp_path / "out.wav"),
                 "--metrics", str(tmp_path / "t.jsonl"), "--quiet"])
    assert code == 0
    return [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("who", ["en-gb", "en-gb-scotland", pytest.param("en-us-f3", marks=pytest.mark.xfail(
    strict=True, reason="tiny.en hears espeak en-us+f3's 'What is the capital of Italy?' as 'What is the capital "
                        "immediately?' (mean log-probability above llm.unsure_below, so it is answered: "
                        "'Washington, D.C.')"))])
def test_a_question_a_remark_and_a_request_it_cannot_do_get_useful_replies(tmp_path, judge, who):
    turns = session(tmp_path, [(it["id"], who) for it in ITEMS])
    answered = [t for t in turns if t["reply"]]
    assert len(answered) == len(ITEMS), [(t["transcript"], t["reply"]) for t in turns]
    for it, t in zip(ITEMS, answered):
        acts = {a["action"]: a["args"] for a in t["actions"]}
        j = judge(it, t["reply"], said=t["transcript"], actions=acts)
        assert j["useful"], (who, it["text"], t["transcript"], t["reply"], j["faults"])
