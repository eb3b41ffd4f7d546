"""Shared fixtures; each group lives in its own module, imported here."""

import os

# Before telegram is imported: retry_after as a timedelta (see bot/telegram/__init__.py).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from hypothesis import settings

from tests.dialogue_fixtures import mini_engine  # noqa: F401
from tests.storage_fixtures import (  # noqa: F401
    pg_admin,
    second_backend,
    storage,
    storage_backend,
)
from tests.telegram_fixtures import (  # noqa: F401
    bot,
    database_url,
    emulator,
    mini_dialogues,
)
from tests.web_fixtures import web  # noqa: F401

# Property tests draw the same examples on every run: CI stays reproducible, and a failure seen
# once is seen again. HYPOTHESIS_PROFILE=explore draws new ones, for a hunt on a workstation.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# --- reliability suite (Telegram's limits, secrets in logs): begin ------------------------------
# Every Bot API 4xx a test did not declare fails it; no secret in any log record or payload of
# the whole run, logged at DEBUG. Hooks and the autouse fixture live in tests/limits_fixtures.py.
pytest_plugins = ("tests.limits_fixtures",)
# --- reliability suite: end ---------------------------------------------------------------------
