"""Audio files, sources and sinks."""

from omni.audio.io import DecodedAudio, read_audio, resample, write_wav
from omni.audio.sink import Timeline, WavFileSink
from omni.audio.source import Room, file_source

__all__ = ["DecodedAudio", "Room", "Timeline", "WavFileSink", "file_source", "read_audio", "resample",
           "write_wav"]
