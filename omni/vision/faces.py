"""Faces: OpenCV's Haar cascade (it ships inside the OpenCV wheel; OpenCV 5 dropped
CascadeClassifier, hence the `<5` pin). Coarse and fast: it says whether and where, not who."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omni.errors import ModelNotFoundError


class FaceDetector:
    def __init__(self, min_size: int = 40, neighbours: int = 5, work_side: int = 640) -> None:
        self.min_size = min_size
        self.neighbours = neighbours
        self.work_side = work_side
        """Frames are scaled down to this long side first (faces in a 4K frame are large)."""
        self._cascade = None

    def load(self, path: str | None = None) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise ModelNotFoundError("this OpenCV has no CascadeClassifier (OpenCV 5 removed it)",
                                     hint="install opencv-python-headless<5")
        path = path or str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise ModelNotFoundError(f"cannot load the face cascade {path}")
        self._cascade = cascade

    def detect(self, image_bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        import cv2

        assert self._cascade is not None, "load() first"
        h, w = image_bgr.shape[:2]
        f = min(1.0, self.work_side / max(h, w))
        small = cv2.resize(image_bgr, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f < 1 else image_bgr
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        found = self._cascade.detectMultiScale(grey, 1.1, self.neighbours,
                                               minSize=(max(1, round(self.min_size * f)),) * 2)
        return [(round(x / f), round(y / f), round(bw / f), round(bh / f)) for x, y, bw, bh in found]
