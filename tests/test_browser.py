"""The browser page at `/`, in a real headless Chromium (Debian's, driven by selenium) whose
microphone is a wav file (Chrome's fake media device): it shows the transcript of what was said,
plays the reply as it streams, stops it at once when the user talks over it, and tells the
server what was heard. The server is omni's with the bundled models; nothing is mocked."""

from __future__ import annotations

import shutil
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import ASSETS, say, silence, voice, words
from serving import Running

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                                 reason="needs Debian's chromium and chromium-driver (make debs)")]


@pytest.fixture(scope="module")
def served() -> Iterator[Running]:
    with Running(None) as r:
        yield r


@pytest.fixture(scope="module")
def glasses() -> Iterator[Running]:
    with Running(None, pipeline="ar-glasses") as r:
        yield r


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[np.ndarray], Any]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def open_with(mic: np.ndarray, video: Path | None = None) -> Any:
        path = tmp_path / f"mic{len(drivers)}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(mic, -1, 1) * 32767).astype("<i2").tobytes())
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={path}%noloop", "--autoplay-policy=no-user-gesture-required"]:
            opts.add_argument(a)
        if video is not None:
            opts.add_argument(f"--use-file-for-fake-video-capture={video}")
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
        drivers.append(d)
        return d

    yield open_with
    for d in drivers:
        d.quit()


def bubbles(d: Any) -> list[tuple[str, str, str]]:
    """(who, text, classes) of each message shown, in order."""
    return d.execute_script("""return [...document.querySelectorAll('.msg')].map(
        e => [e.classList.contains('user') ? 'user' : 'assistant', e.textContent, e.className]);""")


def wait(d: Any, what: Callable[[], Any], timeout: float = 60.0) -> Any:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out; the page shows {bubbles(d)}; log: {d.get_log('browser')[-5:]}")


def start(d: Any, served: Running) -> None:
    from selenium.webdriver.common.by import By

    d.get(served.url + "/")
    d.find_element(By.ID, "connect").click()
    wait(d, lambda: d.find_element(By.ID, "status").text.startswith("listening"), 30)


def test_the_page_shows_what_was_said_and_plays_the_reply(served: Running, browser: Any) -> None:
    d = browser(np.concatenate([silence(1.0), voice("italy", "en-gb"), silence(10.0)]))
    start(d, served)
    wait(d, lambda: any(who == "assistant" and "rome" in text.lower() for who, text, _ in bubbles(d)))
    (user, reply) = bubbles(d)[:2]
    assert user[0] == "user" and {"capital", "italy"} <= words(user[1]) and "partial" not in user[2], user
    # the reply is played to its end: the player pulled all of it through the speaker
    played = wait(d, lambda: (lambda s: s[0] if s[0] > 0 and s[1] == 0 else None)(
        d.execute_script("return [state.played, state.queued]")), 30)
    assert played / 24000 > 1.0, played
    bars = d.execute_script("return [...document.querySelectorAll('.bars .bar span:first-child')].map(e => e.textContent)")
    assert {"stt", "llm", "tts", "voice to voice"} <= set(bars), bars  # the turn's latency, stage by stage


def test_talking_over_the_reply_stops_it_at_once_and_the_next_question_is_answered(served: Running,
                                                                                     browser: Any) -> None:
    ask = say("Tell me a long story about a dragon who learns to bake bread.")
    interrupt_at = 1.0 + len(ask) / 16000 + 5.5  # the story is playing by then
    mic = np.concatenate([silence(1.0), ask, silence(5.5), voice("italy", "en-gb-scotland"), silence(12.0)])
    d = browser(mic)
    t0 = time.monotonic()
    start(d, served)
    first = wait(d, lambda: next((t for who, t, _ in bubbles(d) if who == "assistant" and len(t.split()) > 6), None))
    assert time.monotonic() - t0 < interrupt_at, "the story began only after the interruption: nothing to test"
    cut = wait(d, lambda: next((b for b in bubbles(d) if b[0] == "assistant" and "cut" in b[2]), None), 40)
    pushed, played_of_it = d.execute_script("return [state.itemPushed, Math.min(state.played - state.itemStart, state.itemPushed)]")
    assert played_of_it < pushed * 0.9, "the rest of the reply was played after the user talked over it"
    wait(d, lambda: any(who == "assistant" and "rome" in text.lower() for who, text, _ in bubbles(d)), 60)
    shown = bubbles(d)
    users = [t for who, t, _ in shown if who == "user"]
    assert any({"capital", "italy"} <= words(t) for t in users), shown
    assert cut[1].startswith(first[:20]) and "rome" not in cut[1].lower()
    status, text = served.get("/metrics")  # the page told the server how much of the story was heard
    assert 'omni_realtime_events_total{type="conversation.item.truncate"}' in text, text[-1500:]


def test_with_the_glasses_pipeline_the_page_sends_its_camera_and_reads_the_sign(glasses: Running, browser: Any,
                                                                               tmp_path: Path) -> None:
    """A phone's browser as the glasses: the camera (a fake one showing the test sign) is sent at
    the pipeline's sampling rate, the page shows what the scene stage saw and how long ago, and
    "Read that sign." is answered from the picture."""
    import cv2

    cam = cv2.VideoCapture(str(ASSETS / "glasses.mp4"))
    ok, sign = cam.read()
    cam.release()
    assert ok
    h, w = (sign.shape[0] // 2) * 2, (sign.shape[1] // 2) * 2
    yuv = cv2.cvtColor(sign[:h, :w], cv2.COLOR_BGR2YUV_I420)
    video = tmp_path / "camera.y4m"  # Chrome's fake camera plays a Y4M file (looped)
    with open(video, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            f.write(b"FRAME\n" + yuv.tobytes())
    d = browser(np.concatenate([silence(6.0), say("Read that sign."), silence(10.0)]), video)
    start(d, glasses)
    seen = wait(d, lambda: (t := d.find_element("id", "scene").text).startswith("sees:") and t, 30)
    assert "s ago" in seen, seen
    reply = wait(d, lambda: next((t for who, t, _ in bubbles(d) if who == "assistant" and t.strip()), None), 60)
    assert "platform" in reply.lower(), (reply, seen)
    assert d.execute_script("return state.framesSent") >= 5
