"""Text in pictures: PP-OCRv4 (detection, angle, recognition) through RapidOCR on onnxruntime.

The models ship inside `rapidocr-onnxruntime` (installed without its dependencies: it asks for
the GUI build of OpenCV, which would shadow the headless one omni uses). Regions on one line
are joined left to right; lines are ordered top to bottom.
"""

from __future__ import annotations

import logging

import numpy as np

from omni.errors import ModelNotFoundError
from omni.frames.vision import TextLine

log = logging.getLogger(__name__)


class Ocr:
    def __init__(self, threads: int = 1, min_score: float = 0.6) -> None:
        self.threads = threads
        self.min_score = min_score
        self._engine = None

    def load(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as e:
            raise ModelNotFoundError("OCR needs rapidocr-onnxruntime (its PP-OCRv4 models ship in the wheel)",
                                     hint="run `make setup`, or `pip install --no-deps rapidocr-onnxruntime==1.4.4 "
                                          "pyclipper shapely`") from e
        self._engine = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1, print_verbose=False)

    def read(self, image_bgr: np.ndarray) -> list[TextLine]:
        assert self._engine is not None, "load() first"
        result, _ = self._engine(image_bgr)
        regions = []
        for box, text, score in result or []:
            if float(score) < self.min_score or not str(text).strip():
                continue
            pts = np.asarray(box, np.float32)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            regions.append((str(text).strip(), float(score), (int(x0), int(y0), int(x1 - x0), int(y1 - y0))))
        return join_lines(regions)


def join_lines(regions: list[tuple[str, float, tuple[int, int, int, int]]]) -> list[TextLine]:
    """Regions whose vertical centres lie within half a height of each other form one line."""
    lines: list[list[tuple[str, float, tuple[int, int, int, int]]]] = []
    for r in sorted(regions, key=lambda r: r[2][1] + r[2][3] / 2):
        cy, h = r[2][1] + r[2][3] / 2, r[2][3]
        if lines:
            last = lines[-1][-1][2]
            if abs((last[1] + last[3] / 2) - cy) <= max(h, last[3]) / 2:
                lines[-1].append(r)
                continue
        lines.append([r])
    out = []
    for line in lines:
        line.sort(key=lambda r: r[2][0])
        x0 = min(r[2][0] for r in line)
        y0 = min(r[2][1] for r in line)
        x1 = max(r[2][0] + r[2][2] for r in line)
        y1 = max(r[2][1] + r[2][3] for r in line)
        out.append(TextLine(" ".join(r[0] for r in line), min(r[1] for r in line), (x0, y0, x1 - x0, y1 - y0)))
    return out
