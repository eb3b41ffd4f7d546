"""The schema's history, as Alembic migrations (versions/), shipped inside the package.

`bring_to_head` runs them on a connection the storage opened
(bot.storage.database.Storage.migrate, at start-up and by `alliance-bot migrate`), in the
transaction it began, so the migrations are applied entirely or not at all. A database with no
table at all is created from the tables of bot/storage/schema.py instead, and stamped at the
latest revision as Alembic would (Alembic's "create_all, then stamp"), without loading Alembic:
`tests/test_migrations.py` checks that both ways build the same schema.

A migration, once released, is never edited: change the schema with a new one (`alembic
revision` with script_location set to this folder, or by hand, after the pattern of
versions/0002_*.py), and the tables in bot/storage/schema.py with it. On SQLite, alter
columns inside `op.batch_alter_table`, which rebuilds the table as SQLite requires.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, select, text

from bot.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

FOLDER = Path(__file__).parent
# `name = value` or `name: type = value`, at the start of a line (module level).
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*(?::[^=]*)?=(?P<value>[^=].*)$")

# Alembic's own table, as Alembic creates it (alembic.runtime.migration), to stamp a database
# created from the tables.
VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    return config


@functools.cache
def head() -> str:
    """The latest migration: the one a fully migrated database is at.

    Read from the scripts' `revision` and `down_revision` lines, without importing Alembic
    (about 9 MB and a tenth of a second at start-up, when the schema is current); Alembic
    itself decides when the history is not one line (several heads).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((FOLDER / "versions").glob("*.py")):
        found = _assignments(script)
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(parent) for parent in down)
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    current = ScriptDirectory.from_config(_config()).get_current_head()
    assert current is not None
    return current


def _assignments(script: Path) -> dict[str, Any]:
    """The module-level `name = literal` lines of a migration script (the literal on that line
    alone: the revision lines are written so), without parsing the whole script."""
    found: dict[str, Any] = {}
    for line in script.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line)
        if match is None:
            continue
        try:
            found[match["name"]] = ast.literal_eval(match["value"].strip())
        except (ValueError, SyntaxError):
            continue
    return found


def bring_to_head(connection: Connection) -> None:
    """Bring connection's database to the latest migration, inside its transaction: a database
    with no table at all is created from the tables and stamped; any other is upgraded by the
    migrations (nothing to do if it is current already, as when another replica got there
    first).

    Raises:
        StorageError: as `upgrade`.
    """
    if _is_empty(connection):
        create(connection)
    elif _revision(connection) != head():
        upgrade(connection)


def create(connection: Connection) -> None:
    """Create the schema at its latest revision in an empty database: the tables of
    bot/storage/schema.py, then Alembic's version table holding the latest revision."""
    from bot.storage import schema

    schema.create_all(connection)
    VERSION_TABLE.create(connection, checkfirst=False)
    connection.execute(VERSION_TABLE.insert().values(version_num=head()))


def _is_empty(connection: Connection) -> bool:
    """Whether the database (PostgreSQL: the current schema) has no table or view at all."""
    if connection.dialect.name == "sqlite":
        found = connection.execute(text("SELECT count(*) FROM sqlite_master"))
    else:
        found = connection.execute(
            text(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        )
    return found.scalar() == 0


def _revision(connection: Connection) -> str | None:
    """The revision a database with tables is at; None if it has no version table."""
    if connection.dialect.name == "sqlite":
        named = "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
    else:
        named = (
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = 'alembic_version'"
        )
    if connection.execute(text(named)).scalar() == 0:
        return None
    return connection.execute(select(VERSION_TABLE.c.version_num)).scalar()


def upgrade(connection: Connection, target: str = "head") -> None:
    """Apply the missing migrations on connection, up to target (a revision id; the latest by
    default), inside its transaction.

    Raises:
        StorageError: the database was migrated by a newer release (a revision this code does
            not know: running older code on it could corrupt data).
    """
    from alembic import command
    from alembic.util import CommandError

    config = _config()
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, target)
    except CommandError as exc:
        raise StorageError(
            f"the database is at a schema revision this release does not know ({exc}): "
            "it was migrated by a newer release"
        ) from exc
