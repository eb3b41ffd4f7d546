"""Shared fixtures; each group lives in its own module, imported here."""

from tests.dialogue_fixtures import mini_engine  # noqa: F401
