"""Shared fixtures; each group lives in its own module, imported here."""

import os

# Before telegram is imported: retry_after as a timedelta (see bot/telegram/__init__.py).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from tests.dialogue_fixtures import mini_engine  # noqa: F401
from tests.storage_fixtures import pg_admin, storage, storage_backend  # noqa: F401
from tests.telegram_fixtures import (  # noqa: F401
    bot,
    database_url,
    emulator,
    mini_dialogues,
)
