"""bench/report.py turns per-turn bench results into a table and plots a person can read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from report import main  # noqa: E402

BUDGETS = {"vad": 400, "stt": 500, "llm": 400, "sentences": 400, "tts": 250}


def turn(v2v: float, llm: float, text: str = "What is the capital of France?") -> dict:
    return {"transcript": text, "reply": "Paris.", "v2v_ms": v2v,
            "stages": {"vad": 250.0, "stt": 260.0, "llm": llm, "sentences": 100.0, "tts": 60.0}}


def test_the_report_has_the_headline_numbers_and_three_plots(tmp_path: Path) -> None:
    runs = [{"streaming": {"turns": [turn(900, 200), turn(1000, 450), turn(1100, 300)], "budgets": BUDGETS},
             "naive": {"turns": [turn(1800, 900), turn(2000, 1000), turn(2200, 1100)]}},
            {"streaming": {"turns": [turn(1000, 250), turn(1200, 350), turn(1300, 380)], "budgets": BUDGETS},
             "naive": {"turns": [turn(1500, 800), turn(1800, 900), turn(2600, 1200)]}}]
    src = tmp_path / "voice_loop.json"
    src.write_text(json.dumps({"command": "python bench/voice_loop.py --repeats 2", "when": "now", "runs": runs}))
    assert main(["--in", str(src), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    # omni: six turns, median 1050 ms; naive: median 1900 ms; ratios of p50s run by run 2000/1000, 1800/1200
    assert "| omni | 2 | 6 | 1050 ms |" in md, md
    assert "| naive (whole steps) | 2 | 6 | 1900 ms |" in md and "| 2.00, 1.50 |" in md, md
    assert "llm 83% (≤ 400 ms)" in md and "vad 100%" in md, md  # one llm of six over its budget
    assert "python bench/voice_loop.py --repeats 2" in md
    for name in ("v2v.png", "waterfall.png", "budgets.png"):
        img = cv2.imread(str(tmp_path / "r" / name))
        assert img is not None and img.shape[0] > 100 and img.std() > 5, name  # a picture, not a blank
        assert f"]({name})" in md


def test_no_results_says_what_to_run(tmp_path: Path, capsys) -> None:
    assert main(["--in", str(tmp_path / "none.json"), "--out", str(tmp_path / "r")]) == 2
    assert "bench/voice_loop.py" in capsys.readouterr().err
