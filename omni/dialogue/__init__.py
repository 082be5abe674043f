"""The dialogue core: intent fast path, routing over chat backends, tools, memory."""
