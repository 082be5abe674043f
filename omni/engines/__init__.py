"""Engines: the models behind stages, each loaded explicitly and run in its own worker thread."""
