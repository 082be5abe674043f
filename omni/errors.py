"""One exception tree for omni. Third-party exceptions are translated at the boundary."""

from __future__ import annotations


class OmniError(Exception):
    """Base of every error omni raises on purpose. `hint` says what the user can do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(OmniError):
    """The pipeline file, a CLI flag or an environment variable is wrong."""


class InputError(OmniError):
    """Input data (audio file, frame payload) is missing, corrupt or unsupported."""


class OutputError(OmniError):
    """An output file could not be written (disk full, folder gone); nothing half-written is left."""


class ModelNotFoundError(ConfigError):
    """A model named in the configuration cannot be found or loaded offline."""


class ServiceError(OmniError):
    """An engine or external service failed. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
