"""Load a pipeline file, apply `stage.key=value` overrides, validate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from omni.config.schema import PipelineConfig
from omni.errors import ConfigError

PIPELINES_DIR = Path(__file__).resolve().parents[2] / "pipelines"


def pipeline_path(name_or_path: str) -> Path:
    """A pipeline name (`desktop`) from pipelines/, or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise ConfigError(f"pipeline file not found: {p}")
        return p
    p = PIPELINES_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(f.stem for f in PIPELINES_DIR.glob("*.yaml"))
        raise ConfigError(f"no pipeline named {name_or_path!r}", hint=f"known pipelines: {known}")
    return p


SECTIONS = ("mqtt", "camera")
"""Top-level blocks of a pipeline file that `--set` can reach (besides the stages)."""


def load_pipeline(name_or_path: str, overrides: Iterable[str] = ()) -> PipelineConfig:
    path = pipeline_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for ov in overrides:
        apply_override(data, ov)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path}: invalid pipeline file:\n{_pretty(e)}") from e


def _scalar(raw: str) -> Any:
    """YAML for numbers, booleans, [lists] and {maps}; anything else stays the text typed, so a
    sentence with a colon in it is not read as a mapping."""
    if not raw:
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, (dict, list)) and not raw.lstrip().startswith(("{", "[")):
        return raw
    return value


def apply_override(data: dict[str, Any], override: str) -> None:
    """`stt.model=base` sets option `model` of stage `stt`; `stt.budget_ms=400` a stage field;
    `llm.queue.size=8` a nested one; a key without a stage (`v2v_budget_ms=900`) a top field."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not KEY=VALUE", hint="e.g. --set stt.model=base")
    value = _scalar(raw)
    parts = key.split(".")
    if len(parts) == 1:
        data[parts[0]] = value
        return
    stages = data.get("stages") or []
    stage = next((s for s in stages if s.get("name") == parts[0]), None)
    if stage is None and parts[0] in SECTIONS:  # a top-level section, e.g. mqtt.node_id=kitchen
        target = data.setdefault(parts[0], None) or {}
        data[parts[0]] = target
        for p in parts[1:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value
        return
    if stage is None:
        names = [s.get("name") for s in stages]
        raise ConfigError(f"override {override!r}: no stage named {parts[0]!r}", hint=f"stages: {names}")
    if parts[1] in ("budget_ms", "kind"):
        stage[parts[1]] = value
    elif parts[1] == "queue" and len(parts) == 3:
        stage.setdefault("queue", {})[parts[2]] = value
    else:
        target = stage.setdefault("options", {})
        for p in parts[1:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value


def _pretty(e: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
