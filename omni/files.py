"""Output files: checked before a run starts, written whole or not at all.

`check_outputs` runs before any model loads, so a run that could not keep its results does not
happen; `atomic_path` writes a file under a temporary name in the same folder and renames it into
place, so a reader never sees half a file and a failure leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from omni.errors import ConfigError, OutputError

log = logging.getLogger(__name__)


def part_path(p: Path) -> Path:
    """The temporary name of `p` while it is written: same folder, same suffix (video writers pick
    their container by it)."""
    return p.with_name(f".{p.stem}.part{p.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields the temporary path to write; on success it replaces `path`, on any failure it is
    removed and an OSError becomes an OutputError that says which file and why."""
    p = Path(path)
    tmp = part_path(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {p}: {why(e)}", hint=_hint(e)) from None
        raise


def why(e: OSError) -> str:
    """An OSError in the words a user acts on."""
    return "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))


def _hint(e: OSError) -> str | None:
    return "free some space or write to another disk" if e.errno == errno.ENOSPC else None


def check_outputs(outputs: Mapping[str, Path | None], inputs: Mapping[str, str | Path | None]) -> None:
    """Every output (flag -> path) can be written, is not an input and not another output.
    Raises ConfigError (exit 2) saying which flag, what is wrong and what to do."""
    seen: dict[Path, str] = {}
    ins = {_key(Path(v)): k for k, v in inputs.items() if v is not None and Path(str(v)).exists()}
    for flag, path in outputs.items():
        if path is None:
            continue
        key = _key(path)
        if key in ins:
            raise ConfigError(f"{flag} {path} is the input of {ins[key]}: the run would overwrite it",
                              hint=f"name another file for {flag}")
        if key in seen:
            raise ConfigError(f"{flag} and {seen[key]} both name {path}", hint="give each output its own file")
        seen[key] = flag
        _check_writable(flag, path)


def _key(p: Path) -> Path:
    """What identifies a file: its real path (links, `..`, relative names resolved)."""
    return Path(os.path.realpath(p))


def _check_writable(flag: str, p: Path) -> None:
    if p.is_dir():
        raise ConfigError(f"{flag} {p} is a folder", hint=f"name a file in it, e.g. {p / ('out' + _suffix(flag))}")
    folder = p.parent
    while not folder.exists():  # the run creates missing folders: the nearest one that exists decides
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {p}: {folder} is a file, not a folder", hint="name a path under a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"{flag} {p} is read-only", hint="make it writable or name another file")
    try:  # os.access says yes to root on a read-only folder or file system: try it
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".omni-probe-"):
            pass
    except OSError as e:
        raise ConfigError(f"{flag} {p}: cannot write in {folder} ({why(e)})",
                          hint="name a folder you can write to") from None


def _suffix(flag: str) -> str:
    return {"--metrics": ".jsonl", "--video-out": ".mp4"}.get(flag, ".wav")


def check_range(flag: str, value: float | None, low: float, high: float, unit: str = "") -> None:
    """`value` (when given) lies in [low, high]; else a ConfigError naming the flag and the range."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{flag} {_num(value)}{unit} is out of range", hint=f"use {_num(low)}-{_num(high)}{unit}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
