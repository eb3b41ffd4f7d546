"""The schema's history, as Alembic migrations (versions/), shipped inside the package.

`upgrade` runs them on a connection the storage opened (bot.storage.database.Storage.migrate,
at start-up and by `alliance-bot migrate`), in the transaction it began, so the migrations are
applied entirely or not at all. A migration, once released, is never edited: change the schema
with a new one (`alembic revision` with script_location set to this folder, or by hand, after
the pattern of versions/0002_*.py). On SQLite, alter columns inside `op.batch_alter_table`,
which rebuilds the table as SQLite requires.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from bot.errors import StorageError

FOLDER = Path(__file__).parent


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    return config


@functools.cache
def head() -> str:
    """The latest migration: the one a fully migrated database is at."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def upgrade(connection: Connection, target: str = "head") -> None:
    """Apply the missing migrations on connection, up to target (a revision id; the latest by
    default), inside its transaction.

    Raises:
        StorageError: the database was migrated by a newer release (a revision this code does
            not know: running older code on it could corrupt data).
    """
    config = _config()
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, target)
    except CommandError as exc:
        raise StorageError(
            f"the database is at a schema revision this release does not know ({exc}): "
            "it was migrated by a newer release"
        ) from exc
