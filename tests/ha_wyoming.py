"""Run in Home Assistant's venv (tests/test_wyoming.py): its own Wyoming integration against omni.

    python ha_wyoming.py HOST PORT QUESTION.raw     (16 kHz 16-bit mono PCM)

Prints JSON: the platforms Home Assistant would set up, the STT name, what its STT provider
heard, and what its TTS provider got back."""

import asyncio
import io
import json
import sys
import wave

from homeassistant.components import stt
from homeassistant.components.wyoming.data import WyomingService
from homeassistant.components.wyoming.stt import WyomingSttProvider
from homeassistant.components.wyoming.tts import WyomingTtsProvider


class Entry:
    """What the providers read of a config entry."""

    entry_id = "omni-test"
    data: dict = {}


async def main(host: str, port: int, question: str) -> dict:
    service = await WyomingService.create(host, port)  # what the config flow does: describe -> info
    assert service is not None, "no info from the server"
    heard_by = WyomingSttProvider(Entry(), service)
    meta = stt.SpeechMetadata(language="en", format=stt.AudioFormats.WAV, codec=stt.AudioCodecs.PCM,
                              bit_rate=stt.AudioBitRates.BITRATE_16, sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
                              channel=stt.AudioChannels.CHANNEL_MONO)
    data = open(question, "rb").read()

    async def stream():
        for i in range(0, len(data), 3200):
            yield data[i:i + 3200]

    result = await heard_by.async_process_audio_stream(meta, stream())
    spoken_by = WyomingTtsProvider(Entry(), service)
    fmt, wav = await spoken_by.async_get_tts_audio("The kitchen light is on.", "en_US", {})
    with wave.open(io.BytesIO(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    return {"platforms": [str(p.value) for p in service.platforms], "name": service.get_name(),
            "stt": result.text, "stt_state": str(result.result), "tts_format": fmt, "tts_seconds": seconds}


print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))))
