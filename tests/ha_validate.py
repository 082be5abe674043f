"""Run with Home Assistant's own Python (a venv made by `make setup`): validates MQTT discovery
configs against Home Assistant's own discovery schemas.

stdin: a JSON list of {"component": "sensor", "config": {...}}; stdout: a JSON list of
{"ok": bool, "error": str, "dropped": [keys Home Assistant would ignore]}.
"""

import importlib
import json
import sys

from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS

out = []
for item in json.load(sys.stdin):
    cfg = {ABBREVIATIONS.get(k, k): v for k, v in item["config"].items()}
    if isinstance(cfg.get("device"), dict):
        cfg["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in cfg["device"].items()}
    schema = importlib.import_module(f"homeassistant.components.mqtt.{item['component']}").DISCOVERY_SCHEMA
    try:
        valid = schema(cfg)
        out.append({"ok": True, "error": "", "dropped": sorted(set(cfg) - set(valid))})
    except Exception as e:  # voluptuous.Invalid and friends
        out.append({"ok": False, "error": f"{type(e).__name__}: {e}", "dropped": []})
json.dump(out, sys.stdout)
