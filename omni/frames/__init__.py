"""Typed frames, one module per domain."""

from omni.frames.action import ContextUpdate, DeviceAction
from omni.frames.audio import (Cue, InputAudio, PushToTalk, ReplyAudio, SpeechPaused, SpeechStarted,
                               SpeechStopped, Utterance, WakeWord)
from omni.frames.base import Frame, Tier, Turn
from omni.frames.control import ClearInput, EditHistory, EndOfStream, EndTurn, ErrorEvent, Remember
from omni.frames.vision import Label, SceneFrame, TextLine, VideoFrame
from omni.frames.text import (Answered, PartialTranscript, ReplyDone, ReplyPlayed, ReplySentence, ReplyToken,
                              SayText, Transcript)

__all__ = [
    "Answered", "ContextUpdate", "DeviceAction", "EndOfStream", "ErrorEvent", "Frame", "InputAudio", "ReplyAudio", "ReplyDone", "ReplyPlayed",
    "ReplySentence", "ReplyToken", "SayText", "PartialTranscript", "SpeechStarted", "SpeechStopped", "Tier", "Transcript",
    "Turn", "Utterance", "SpeechPaused", "WakeWord", "PushToTalk", "Cue", "VideoFrame", "SceneFrame", "TextLine",
    "Label", "EndTurn", "ClearInput", "Remember", "EditHistory",
]
