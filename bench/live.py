#!/usr/bin/env python3
"""Desktop live path: wake word latency, audio callback load, idle CPU, in one run.

    python bench/live.py [--idle-s 20] [--out bench/results/live.json]

1. Wake word -> listening: "Hey Jarvis" said by the bundled voice in several sentences; the end
   of "Jarvis" is placed with whisper's word timings (a 1 s pause is inserted there), and the
   delay to the gate opening is the detection point minus that end, plus the time the gate took
   to process the chunk it was found in.
2. Idle listening, live: `run_live` on PortAudio through ALSA's pulse plugin to a PulseAudio with a
   pipe source fed silence in real time (no sound card here), for --idle-s seconds after loading,
   in "always" mode and in "wake_word" mode: the process's CPU time over that wall time (% of one
   core), and the audio callbacks' time against their period (p50/p99/max).
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sound import SoundServer  # noqa: E402

SOUND = SoundServer(Path(tempfile.mkdtemp(prefix="omni-bench-live-")) / "pulse")
os.environ.update({k: v for k, v in SOUND.env.items() if k in ("ALSA_CONFIG_PATH", "PULSE_SERVER",
                                                                 "PULSE_RUNTIME_PATH")})
# PortAudio reads the ALSA configuration when sounddevice is first imported: after this point

import numpy as np  # noqa: E402

from omni.app.live import LiveRunOptions, run_live  # noqa: E402
from omni.app.view import ConsoleView  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.frames import InputAudio, WakeWord  # noqa: E402
from omni.stages.wake import WakeGate, WakeOptions  # noqa: E402
from tests.helpers import pause_after, say, silence  # noqa: E402

SENTENCES = ["Hey Jarvis, what time is it?", "Hey Jarvis, turn on the kitchen light.",
             "Hey Jarvis, what is the capital of France?", "Hey Jarvis, tell me a joke."]


async def wake_latency() -> list[dict[str, Any]]:
    rows = []
    gate = WakeGate("wake", WakeOptions(mode="wake_word", ack=False))
    await gate.load(lambda *_: None)
    try:
        for text in SENTENCES:
            speech = say(text)
            marked = pause_after(speech, "jarvis", 1.0)
            cut = int(np.flatnonzero(marked[:len(speech)] != speech)[0])  # where the pause went in
            audio = np.concatenate([silence(0.5), marked, silence(0.5)])
            end = 8000 + cut
            found, took = None, 0.0
            for i in range(0, len(audio), 512):
                t = time.perf_counter()
                outs = [f async for f in gate.process(InputAudio(samples=audio[i:i + 512], sample_rate=16000,
                                                                 start=i))]
                dt = (time.perf_counter() - t) * 1000
                w = next((f for f in outs if isinstance(f, WakeWord)), None)
                if w is not None and found is None:
                    found, took = w, dt
            gate._open_until = 0.0  # asleep again for the next sentence
            rows.append({"text": text, "detected": found is not None,
                         "after_word_end_ms": None if found is None else round((found.at - end) / 16, 1),
                         "gate_chunk_ms": round(took, 2),
                         "to_listening_ms": None if found is None else round((found.at - end) / 16 + took, 1)})
    finally:
        await gate.aclose()
    return rows


async def idle(mode: str, seconds: float) -> dict[str, Any]:
    cfg = load_pipeline("desktop", [f"wake.mode={mode}"])
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(
        run_live(cfg, LiveRunOptions(), ConsoleView(quiet=True), stop))
    # wait for the pipeline to load (the microphone opens after it), then measure
    while not SOUND.heard:
        await asyncio.sleep(0.1)
    await asyncio.sleep(12.0)
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = (time.process_time() - c0) / (time.monotonic() - w0) * 100
    stop.set()
    summary = (await task).extra
    return {"mode": mode, "idle_s": seconds, "cpu_pct_of_one_core": round(cpu, 1),
            **{k: v for k, v in summary.items() if k in ("microphone", "speaker")}}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle-s", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "live.json")
    args = ap.parse_args()
    wake = await wake_latency()
    SOUND.start()
    try:
        arms = [await idle(mode, args.idle_s) for mode in ("always", "wake_word")]
    finally:
        SOUND.stop()
    res = {"wake": wake, "idle": arms}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    for r in wake:
        print(f"wake {r['text']:45s} detected {r['detected']!s:5s} after word end {r['after_word_end_ms']} ms, "
              f"gate {r['gate_chunk_ms']} ms -> listening {r['to_listening_ms']} ms")
    for a in arms:
        mic, spk = a.get("microphone", {}), a.get("speaker", {})
        print(f"idle {a['mode']:9s} CPU {a['cpu_pct_of_one_core']:5.1f} % of one core | mic callback "
              f"p50 {mic.get('load_pct_p50')} % p99 {mic.get('load_pct_p99')} % max {mic.get('load_pct_max')} % "
              f"xruns {mic.get('xruns')} dropped {mic.get('dropped')} | speaker p50 {spk.get('load_pct_p50')} % "
              f"p99 {spk.get('load_pct_p99')} % max {spk.get('load_pct_max')} % xruns {spk.get('xruns')}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
