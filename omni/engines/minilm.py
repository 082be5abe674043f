"""Sentence embeddings with all-MiniLM-L6-v2 in plain numpy: no torch on the voice path.

The model is a 6-layer BERT (hidden 384). Weights come from its safetensors file, read directly
(the format is an 8-byte header length, a JSON header, then raw little-endian tensors); the
tokenizer from its tokenizer.json through `tokenizers`. Embeddings are mean-pooled over the
tokens and L2-normalised, as sentence-transformers does for this model. A short command encodes
in a few milliseconds on one core.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from omni.errors import ModelNotFoundError

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ModelNotFoundError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a: base + b], dtype=_DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).astype(np.float32 if info["dtype"] != "I64" else np.int64)
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation of the erf GELU; differs by < 1e-3 on this model's activations
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


class MiniLM:
    """Blocking encoder; call it from a worker thread on the event loop's behalf."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        cfg_path, weights = folder / "config.json", folder / "model.safetensors"
        tok_path = folder / "tokenizer.json"
        for p in (cfg_path, weights, tok_path):
            if not p.exists():
                raise ModelNotFoundError(f"embedding model folder {folder} has no {p.name}",
                                         hint="give a sentence-transformers BERT folder with "
                                              "config.json, model.safetensors and tokenizer.json")
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("model_type") != "bert":
            raise ModelNotFoundError(f"{folder}: model_type {cfg.get('model_type')!r} is not bert")
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_len = int(cfg.get("max_position_embeddings", 512))
        w = read_safetensors(weights)
        self.w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.tok = Tokenizer.from_file(str(tok_path))
        self.tok.no_padding()
        self.tok.enable_truncation(min(256, self.max_len))
        self.dim = int(cfg["hidden_size"])

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def encode_one(self, text: str) -> np.ndarray:
        enc = self.tok.encode(text)
        ids = np.asarray(enc.ids, dtype=np.int64)
        w, n = self.w, len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        h, d = self.heads, self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self._linear(x, p + "attention.self.query").reshape(n, h, d).transpose(1, 0, 2)
            k = self._linear(x, p + "attention.self.key").reshape(n, h, d).transpose(1, 0, 2)
            v = self._linear(x, p + "attention.self.value").reshape(n, h, d).transpose(1, 0, 2)
            att = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(n, self.dim)
            x = _layer_norm(x + self._linear(ctx, p + "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            ff = self._linear(_gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense")
            x = _layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        v = x.mean(0)
        return (v / (np.linalg.norm(v) + 1e-12)).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.encode_one(t) for t in texts])
