"""An embedded MQTT broker (amqtt, pure Python) so a node runs with no broker installed.

It listens on loopback only, without authentication: it is for trying omni out and for a node
that is its own little hub. A home with a broker (Mosquitto, EMQX) uses --broker instead.
"""

from __future__ import annotations

import logging
import socket

from omni.errors import ServiceError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._broker = None

    async def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):  # chatty at INFO
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
        cfg = {"listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
               "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}
        broker = Broker(cfg)
        try:
            await broker.start()
        except Exception as e:  # amqtt wraps bind errors in its own exception types
            raise ServiceError(f"the embedded MQTT broker cannot listen on {self.host}:{self.port}: {e}",
                               hint="is another broker on that port? use --broker mqtt://localhost:1883 "
                                    "to use it, or --set mqtt.embedded_port=0 for any free port") from e
        self._broker = broker
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)
        return self

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
