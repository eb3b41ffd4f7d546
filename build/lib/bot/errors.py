"""The project's exceptions: one root, short subclasses grouped by layer."""


class AllianceBotError(Exception):
    """Root of every error raised on purpose by alliance-bot."""


# Configuration and dialogue files: the operator can fix these.
class ConfigError(AllianceBotError):
    """A setting is missing or invalid."""


class DialogueError(AllianceBotError):
    """A dialogue file is invalid; the message says where and why, in plain words."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = path or "dialogue"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")


# Storage.
class StorageError(AllianceBotError):
    """The database failed or refused an operation."""


class StaleConversation(StorageError):
    """The conversation changed since it was read (optimistic version check failed)."""


class DuplicateUpdate(StorageError):
    """This Telegram update was already processed."""
