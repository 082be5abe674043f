"""Wyoming, Home Assistant's voice protocol: omni's recogniser, voice, wake words and dialogue
core as services of Assist (`launch.py wyoming`, docs/wyoming.md)."""
