"""A real Mosquitto broker for the tests (Debian's `mosquitto`, installed by `make test`), and
a smart-home node run in a thread of its own, so that a test talks to it only over MQTT."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omni.app.node import NodeHandle, NodeRunOptions, run_node
from omni.app.view import ConsoleView
from omni.config import load_pipeline
from omni.mqtt.broker import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class Mosquitto:
    """Mosquitto on a free loopback port, with persistence (a restart keeps sessions and the
    QoS 1 messages queued for them), and optionally users and an ACL."""

    dir: Path
    users: dict[str, str] | None = None
    acl: str | None = None
    port: int = field(default_factory=free_port)
    nodelay: bool = True
    """set_tcp_nodelay (off by default in Mosquitto: Nagle's algorithm then holds small messages)."""
    tls: tuple[Path, Path, Path] | None = None
    """(CA, certificate, key): listen with TLS (mqtts://) instead of plain TCP."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "user root", "persistence true",
                 f"set_tcp_nodelay {'true' if self.nodelay else 'false'}",
                 f"persistence_location {self.dir}/", "autosave_interval 1",
                 f"log_dest file {self.dir}/mosquitto.log", "log_type all"]
        if self.tls is not None:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        if self.acl is not None:
            (self.dir / "acl").write_text(self.acl)
            lines.append(f"acl_file {self.dir}/acl")
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Mosquitto:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError("mosquitto is not installed: `make test` installs it "
                               "(apt-get install mosquitto)")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self._config())], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {self.log()[-2000:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: it saves its persistence file first
            self.proc.wait(10)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def log(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""


def make_certs(d: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for 127.0.0.1 signed by it (openssl), for TLS tests."""
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr = (d / n for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr"))
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=omni test CA",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


class NodeThread:
    """`run_node` on its own event loop in a thread, as a separate program would run it."""

    def __init__(self, pipeline: str = "smart-home", overrides: list[str] | None = None,
                 opts: NodeRunOptions | None = None) -> None:
        self.cfg = load_pipeline(pipeline, overrides or [])
        self.opts = opts or NodeRunOptions()
        self.handle: NodeHandle | None = None
        self.summary: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="omni-node", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            started: asyncio.Future[NodeHandle] = self._loop.create_future()
            started.add_done_callback(lambda f: (setattr(self, "handle", f.result()), self._ready.set()))
            self.summary = (await run_node(self.cfg, self.opts, ConsoleView(quiet=True), started)).extra

        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e
        finally:
            self._ready.set()

    def start(self, timeout: float = 120) -> NodeThread:
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error
        assert self.handle is not None, "the node did not start in time"
        return self

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) on the node's loop and return its result (for looking inside)."""
        assert self._loop is not None
        done = threading.Event()
        box: list[Any] = []
        self._loop.call_soon_threadsafe(lambda: (box.append(fn(*args)), done.set()))
        done.wait(10)
        return box[0]

    def stop(self, timeout: float = 60) -> dict[str, Any] | None:
        if self.handle is not None and self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.handle.stop.set)
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.summary
