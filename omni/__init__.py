"""omni: a local-first, real-time multimodal assistant pipeline."""

__version__ = "0.1.0"
