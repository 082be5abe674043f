#!/usr/bin/env python3
"""omni's entry point: `python launch.py desktop --audio-in IN.wav --audio-out OUT.wav`."""

import sys

from omni.app.cli import main

if __name__ == "__main__":
    code = main()
    device = sys.modules.get("omni.audio.device")
    if device is not None and device.left_behind:  # a sound device stuck in PortAudio: its exit
        sys.stdout.flush()                         # handler would wait on it for good
        sys.stderr.flush()
        import os

        os._exit(code or 0)
    sys.exit(code)
