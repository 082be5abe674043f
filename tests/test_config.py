import pytest

from omni.config import load_pipeline
from omni.errors import ConfigError
from omni.stages import build_stage


def test_desktop_pipeline_loads_with_budgets_and_queues():
    cfg = load_pipeline("desktop")
    assert [s.name for s in cfg.stages] == ["aec", "wake", "vad", "stt", "llm", "sentences", "tts"]
    # every stage a turn waits for has a budget (the echo canceller and the wake gate work per
    # chunk, not per turn)
    assert all(s.budget_ms for s in cfg.stages if s.name not in ("aec", "wake"))
    stages = {s.name: build_stage(s) for s in cfg.stages}
    assert all(stages[n].input_queue.overflow.value == "block" for n in ("aec", "wake", "vad"))
    assert stages["stt"].options.model == "tiny.en"
    assert stages["vad"].options.end_of_turn.model == "smart-turn-v3"
    assert stages["wake"].options.mode == "always"


def test_overrides_reach_options_budgets_and_queues():
    cfg = load_pipeline("desktop", ["stt.model=base", "llm.budget_ms=300", "vad.queue.size=64",
                                    "llm.max_tokens=20", "v2v_budget_ms=900"])
    assert cfg.stage("stt").options["model"] == "base"
    assert cfg.stage("llm").budget_ms == 300
    assert cfg.stage("vad").queue.size == 64
    assert cfg.v2v_budget_ms == 900
    assert build_stage(cfg.stage("llm")).options.max_tokens == 20


@pytest.mark.parametrize("override, message", [
    ("nosuch.model=x", "no stage named 'nosuch'"),
    ("stt.beam_size=0", "stt.beam_size"),
    ("stt.modle=base", "modle"),
    ("llm.budget_ms=-5", "budget_ms"),
    ("novalue", "KEY=VALUE"),
    # an option that only works with another: said, not silently ignored
    ("vad.end_of_turn.decode_at_pause=false,vad.end_of_turn.ask_at_pause=true", "ask_at_pause.*decode_at_pause"),
])
def test_bad_overrides_are_clear_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        cfg = load_pipeline("desktop", override.split(","))
        for s in cfg.stages:
            build_stage(s)


def test_unknown_pipeline_and_kind(tmp_path):
    with pytest.raises(ConfigError, match="known pipelines"):
        load_pipeline("nonexistent")
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nstages:\n  - {name: a, kind: stt.nope}\n")
    cfg = load_pipeline(str(bad))
    with pytest.raises(ConfigError, match="unknown kind"):
        build_stage(cfg.stages[0])
    bad.write_text("name: x\nstages: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(str(bad))


def test_over_budget_actions_are_declared_checked_and_overridable():
    cfg = load_pipeline("desktop", ["stt.over_budget.after_ms=900", "llm.over_budget=failover"])
    stt, llm = build_stage(cfg.stage("stt")), build_stage(cfg.stage("llm"))
    assert (stt.over_budget.action, stt.act_after_ms("partial")) == ("partial", 900)
    # the action named anew keeps the file's after_ms; with none, the stage's budget is the time
    assert llm.act_after_ms("failover") == 2000 and llm.act_after_ms("partial") is None
    sentences = load_pipeline("desktop", ["sentences.over_budget=partial"]).stage("sentences")
    assert sentences.over_budget.after_ms is None
    with pytest.raises(ConfigError, match="(?s)cannot 'failover'.*what it can do: partial"):
        build_stage(load_pipeline("desktop", ["stt.over_budget=failover"]).stage("stt"))
    with pytest.raises(ConfigError, match="(?s)cannot 'partial'.*what it can do: none"):
        build_stage(load_pipeline("desktop", ["sentences.over_budget=partial"]).stage("sentences"))
