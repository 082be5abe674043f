#!/usr/bin/env python3
"""omni's entry point: `python launch.py desktop --audio-in IN.wav --audio-out OUT.wav`."""

import sys

from omni.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
