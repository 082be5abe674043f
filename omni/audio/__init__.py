"""Audio files, sources and sinks."""

from omni.audio.io import DecodedAudio, read_audio, resample, write_wav
from omni.audio.sink import WavFileSink
from omni.audio.source import Room, file_source
from omni.audio.timeline import Timeline

__all__ = ["DecodedAudio", "Room", "Timeline", "WavFileSink", "file_source", "read_audio", "resample",
           "write_wav"]
