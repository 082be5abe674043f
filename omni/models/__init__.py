"""Model resolution: bundled packages, local paths, hub ids; a cache for assembled models."""

from omni.models.cache import assemble, cache_dir
from omni.models.catalog import BUNDLED, Resolved, hub_error, resolve

__all__ = ["BUNDLED", "Resolved", "assemble", "cache_dir", "hub_error", "resolve"]
