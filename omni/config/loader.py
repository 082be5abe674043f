"""Load a pipeline file, apply `stage.key=value` overrides, validate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from omni.config.schema import PipelineConfig
from omni.errors import ConfigError
from omni.strings import escaped, has_surrogates

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


Override = str | tuple[str, Any]
"""`stage.key=value` as typed (the value read as YAML), or (`stage.key`, value) taken as it is."""


def load_pipeline(name_or_path: str, overrides: Iterable[Override] = ()) -> PipelineConfig:
    path = pipeline_path(name_or_path)
    overrides = list(overrides)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})",
                          hint="save the pipeline file as UTF-8") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    except RecursionError:
        raise ConfigError(f"{path}: nests too deeply to be a pipeline file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for ov in overrides:
        apply_override(data, ov)
    try:
        return PipelineConfig.model_validate(data)
    except RecursionError:
        raise ConfigError(f"{path}: a value nests too deeply") from None
    except ValidationError as e:
        where = f"{path} with the flags given" if overrides else str(path)
        raise ConfigError(f"{where}: invalid configuration:\n{_pretty(e)}") from e


def _scalar(raw: str) -> Any:
    """YAML for numbers, booleans, [lists] and {maps}; anything else stays the text typed, so a
    sentence with a colon in it is not read as a mapping."""
    if not raw:
        return ""
    if "#" in raw and not raw.lstrip().startswith(("{", "[", "'", '"')):
        return raw  # YAML would read "kitchen #" as "kitchen" and "#" as nothing
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    except RecursionError:
        raise ConfigError(f"the value {raw[:40]}... nests too deeply") from None
    if isinstance(value, (dict, list)) and not raw.lstrip().startswith(("{", "[")):
        return raw
    return value


def apply_override(data: dict[str, Any], override: Override) -> None:
    """`stt.model=base` sets option `model` of stage `stt`; `stt.budget_ms=400` a stage field;
    `llm.queue.size=8` a nested one; a key without a stage (`v2v_budget_ms=900`) a top field."""
    text = f"{override[0]}={override[1]}" if isinstance(override, tuple) else override
    if has_surrogates(text):  # a byte of the command line that is not UTF-8
        raise ConfigError(f"override '{escaped(text)}' is not UTF-8 text",
                          hint="type it again, or set the terminal to UTF-8 (LANG=C.UTF-8)")
    if isinstance(override, tuple):
        key, value = override
    else:
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
    if parts[1] == "over_budget" and len(parts) == 2 and isinstance(stage.get("over_budget"), dict):
        stage["over_budget"] = {**stage["over_budget"], "action": value}  # its after_ms stays
    elif parts[1] in ("budget_ms", "kind") or (parts[1] == "over_budget" and len(parts) == 2):
        stage[parts[1]] = value
    elif parts[1] == "over_budget" and len(parts) == 3:
        ob = stage.get("over_budget")
        stage["over_budget"] = {**({"action": ob} if isinstance(ob, str) else ob or {}), parts[2]: value}
    elif parts[1] == "queue" and len(parts) == 3:
        stage.setdefault("queue", {})[parts[2]] = value
    else:
        target = stage.setdefault("options", {})
        for p in parts[1:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value


def _pretty(e: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
                     for err in e.errors())
