"""A sound server with no sound card: PulseAudio with a pipe source (the microphone reads a FIFO
the test writes in real time) and a pipe sink timed by the system clock (the speaker writes a
FIFO the test reads), reached by PortAudio through ALSA's `pulse` PCM plugin.

ALSA's own `file`/`null` plugins were tried first: they are not paced (PortAudio called the input
callback 68,568 times in one second), so nothing about real-time audio can be tested on them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

PULSEAUDIO = shutil.which("pulseaudio") or "/usr/bin/pulseaudio"


class SoundServer:
    def __init__(self, d: Path, rate: int = 16000) -> None:
        self.dir = d
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.heard = bytearray()
        self._feed: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{self.dir}/asound.conf",
                "PULSE_SERVER": f"unix:{self.dir}/native", "PULSE_RUNTIME_PATH": str(self.dir / "rt")}

    def start(self) -> SoundServer:
        if not Path(PULSEAUDIO).exists():
            raise RuntimeError("pulseaudio is not installed: `make test` installs it")
        self.dir.mkdir(parents=True, exist_ok=True)
        d, r = self.dir, self.rate
        for stale in ("mic.fifo", "spk.fifo", "native"):  # left by a server that was killed
            (d / stale).unlink(missing_ok=True)
        (d / "default.pa").write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={d}/native\n"
            f"load-module module-pipe-source source_name=mic file={d}/mic.fifo format=s16le rate={r} channels=1\n"
            f"load-module module-pipe-sink sink_name=speaker file={d}/spk.fifo format=s16le rate={r} channels=1 "
            "use_system_clock_for_timing=yes\n"
            "set-default-sink speaker\nset-default-source mic\n")
        (d / "asound.conf").write_text(f'pcm.!default {{ type pulse server "unix:{d}/native" }}\n'
                                       f'ctl.!default {{ type pulse server "unix:{d}/native" }}\n')
        self.proc = subprocess.Popen([PULSEAUDIO, "-n", "-F", str(d / "default.pa"), "--daemonize=no",
                                      "--exit-idle-time=-1", f"--log-target=file:{d}/pulse.log"],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not ((d / "mic.fifo").exists() and (d / "spk.fifo").exists() and (d / "native").exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start: " + (d / "pulse.log").read_text(errors="replace")[-1500:])
            time.sleep(0.05)
        self._threads = [threading.Thread(target=self._write_mic, daemon=True),
                         threading.Thread(target=self._read_speaker, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def say(self, audio: np.ndarray) -> None:
        """Queue audio for the microphone (it hears silence otherwise), 16 kHz float."""
        with self._lock:
            self._feed.append(audio.astype(np.float32))

    def _write_mic(self) -> None:
        fd = os.open(self.dir / "mic.fifo", os.O_WRONLY)
        n = self.rate // 50  # 20 ms, in real time
        t0 = time.monotonic()
        sent = 0
        buf = np.zeros(0, np.float32)
        try:
            while not self._stop.is_set():
                with self._lock:
                    if self._feed:
                        buf = np.concatenate([buf, *self._feed])
                        self._feed.clear()
                chunk, buf = (buf[:n], buf[n:]) if len(buf) else (np.zeros(n, np.float32), buf)
                chunk = np.pad(chunk, (0, n - len(chunk)))
                try:
                    os.write(fd, (np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes())
                except BrokenPipeError:  # the server is gone (the test is over)
                    return
                sent += n
                time.sleep(max(0.0, t0 + sent / self.rate - time.monotonic()))
        finally:
            os.close(fd)

    def _read_speaker(self) -> None:
        fd = os.open(self.dir / "spk.fifo", os.O_RDONLY)
        try:
            while not self._stop.is_set():
                data = os.read(fd, 4096)
                if not data:
                    time.sleep(0.01)
                    continue
                self.heard += data
        finally:
            os.close(fd)

    def restart(self, down_s: float = 1.0) -> None:
        """Kill the server (every device disappears) and start it again after `down_s`."""
        self.stop()
        for t in self._threads:
            t.join(2)
        time.sleep(down_s)
        self._stop = threading.Event()
        self.start()

    def speaker(self) -> np.ndarray:
        return np.frombuffer(bytes(self.heard[:len(self.heard) // 2 * 2]), "<i2").astype(np.float32) / 32768.0

    def stop(self) -> None:
        self._stop.set()
        self._threads[0].join(2) if self._threads else None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
