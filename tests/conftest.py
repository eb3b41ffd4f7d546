"""Shared fixtures; each group lives in its own module, imported here."""

from tests.dialogue_fixtures import mini_engine  # noqa: F401

# --- storage fixtures (tests/storage_fixtures.py; owner: storage) ---
from tests.storage_fixtures import pg_admin, storage, storage_backend  # noqa: F401

# --- end storage fixtures ---
