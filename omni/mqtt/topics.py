"""The topic scheme of a node: everything lives under <prefix>/<node_id>/.

    <p>/<n>/status             retained "online"; "offline" is the last will
    <p>/<n>/state              retained JSON: idle | listening | thinking | speaking, muted, listening
    <p>/<n>/cmd/<command>      JSON commands in (QoS 1): ask, say, listen, mute, settings
    <p>/<n>/audio/in           WAV chunks in: a remote microphone
    <p>/<n>/event/<kind>       JSON events out: ack, transcript, reply, action, metrics, error
    <p>/<n>/event/audio        WAV chunks out (reply audio, when publish_audio is on)
"""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("ask", "say", "cancel", "listen", "mute", "settings")
EVENTS = ("ack", "transcript", "reply", "action", "metrics", "error", "audio")


@dataclass(frozen=True)
class Topics:
    prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.node}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def audio_in(self) -> str:
        return f"{self.base}/audio/in"

    @property
    def commands(self) -> str:
        """The subscription that takes every command."""
        return f"{self.base}/cmd/+"

    def cmd(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def event(self, kind: str) -> str:
        return f"{self.base}/event/{kind}"

    def command_of(self, topic: str) -> str | None:
        """The command name of a topic under cmd/, else None."""
        head = f"{self.base}/cmd/"
        return topic[len(head):] if topic.startswith(head) else None
