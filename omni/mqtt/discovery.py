"""Home Assistant MQTT discovery: the node announces its entities so it appears in Home
Assistant with no configuration: its state, the last transcript, the last reply (sensors), and
switches for the speaker mute and for listening.

Each entity's config is published retained on
    <discovery prefix>/<component>/<prefix>_<node>/<object>/config
and every entity shares the node's availability topic and device block. The switches send
Home Assistant's plain ON / OFF to cmd/mute and cmd/listen, which the node takes as well as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from omni import __version__
from omni.mqtt.link import Outgoing
from omni.mqtt.topics import Topics

def discovery_messages(topics: Topics, discovery_prefix: str, name: str | None = None) -> list[Outgoing]:
    uid = f"{topics.prefix}_{topics.node}"
    device = {"identifiers": [uid], "name": name or f"omni {topics.node}", "manufacturer": "omni",
              "model": "omni smart-home node", "sw_version": __version__}
    common = {"availability_topic": topics.status, "payload_available": "online",
              "payload_not_available": "offline", "device": device}
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "state", {"name": "State", "state_topic": topics.state, "icon": "mdi:account-voice",
                             "value_template": "{{ value_json.state }}"}),
        ("sensor", "transcript", {"name": "Last transcript", "state_topic": topics.event("transcript"),
                                  "icon": "mdi:microphone-message",
                                  "value_template": "{{ value_json.text[:255] }}"}),
        ("sensor", "reply", {"name": "Last reply", "state_topic": topics.event("reply"),
                             "icon": "mdi:message-reply-text", "value_template": "{{ value_json.text[:255] }}"}),
        ("switch", "mute", {"name": "Mute", "icon": "mdi:volume-off", "command_topic": topics.cmd("mute"),
                            "state_topic": topics.state,
                            "value_template": "{{ 'ON' if value_json.muted else 'OFF' }}",
                            "payload_on": "ON", "payload_off": "OFF", "qos": 1}),
        ("switch", "listening", {"name": "Listening", "icon": "mdi:microphone",
                                 "command_topic": topics.cmd("listen"),
                                 "state_topic": topics.state,
                                 "value_template": "{{ 'ON' if value_json.listening else 'OFF' }}",
                                 "payload_on": "ON", "payload_off": "OFF", "qos": 1}),
    ]
    out = []
    for component, obj, cfg in entities:
        payload = {**cfg, "unique_id": f"{uid}_{obj}", "object_id": f"{uid}_{obj}", **common}
        out.append(Outgoing(f"{discovery_prefix}/{component}/{uid}/{obj}/config",
                            json.dumps(payload).encode(), qos=1, retain=True))
    return out
