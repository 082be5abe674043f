"""Read a PyTorch checkpoint (a state dict of tensors) into numpy arrays, without torch.

Both of torch's formats: the zip archive of `torch.save` since 1.6 and the legacy stream of
pickles before it (torchvision's classic checkpoints). Only what a state dict needs is allowed
through the unpickler (tensors, storages, ordered dicts): anything else is refused, so a
checkpoint cannot run code the way `torch.load(weights_only=False)` would let it.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from omni.errors import InputError

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass
class _Storage:
    key: str
    dtype: Any
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None
        if not self.size:
            return data[self.offset:self.offset + 1].reshape(()).copy()
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> _Tensor:
    return _Tensor(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain state dict; refused")

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", storage type, key, location, numel[, view metadata])
        kind, stype, key = pid[0], pid[1], str(pid[2])
        if kind != "storage" or stype not in _DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage {pid[:2]!r}")
        return self.storages.setdefault(key, _Storage(key, _DTYPES[stype]))


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """name -> array for every tensor in the checkpoint at `path`."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            obj, storages = _zip(path)
        else:
            obj, storages = _legacy(path)
    except (OSError, pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError) as e:
        raise InputError(f"{path}: not a readable PyTorch state dict ({e})") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    missing = [s.key for s in storages.values() if s.data is None]
    if missing:
        raise InputError(f"{path}: storages missing from the file: {missing[:5]}")
    return {k: v.array() for k, v in obj.items() if isinstance(v, _Tensor)}


def _zip(path: Path) -> tuple[Any, dict[str, _Storage]]:
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
        root = pkl[: -len("data.pkl")]
        obj = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, s in storages.items():
            s.data = np.frombuffer(z.read(f"{root}data/{key}"), dtype=s.dtype)
    return obj, storages


def _legacy(path: Path) -> tuple[Any, dict[str, _Storage]]:
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        def read() -> Any:
            return _Unpickler(f, storages).load()

        if read() != _LEGACY_MAGIC:
            raise pickle.UnpicklingError("not a PyTorch file (bad magic number)")
        read()  # protocol version
        read()  # system info (byte order, type sizes)
        obj = read()
        keys = read()  # the storage keys, in the order their data follows
        for key in keys:
            (n,) = struct.unpack("<q", f.read(8))
            s = storages[str(key)]
            size = n * np.dtype(s.dtype).itemsize
            raw = f.read(size)
            if len(raw) != size:
                raise EOFError(f"storage {key}: {len(raw)} of {size} bytes")
            s.data = np.frombuffer(raw, dtype=s.dtype)
    return obj, storages
