"""The schema's history: numbered migrations, each with its SQL for SQLite and for PostgreSQL.

A migration is a module of this package named ``NNNN_short_name.py`` (``NNNN`` = its version,
consecutive from 0001) that defines:

- ``DESCRIPTION``: one line saying what it changes;
- ``SQLITE`` and ``POSTGRES``: tuples of SQL statements, one statement per string, run in order.

The backends apply the missing ones in version order, each in its own transaction together with
its row in ``schema_migrations``, so a migration is either entirely applied or not at all. A
migration, once released, is never edited: change the schema with a new one.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import StorageError

# The runner's own bookkeeping table; every other table comes from a migration.
SCHEMA_MIGRATIONS_SQLITE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)"
)
SCHEMA_MIGRATIONS_POSTGRES = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TIMESTAMPTZ NOT NULL)"
)

_MODULE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)$")


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version, name and the statements for each dialect."""

    version: int
    name: str  # the module name, e.g. "0001_initial"
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


@functools.cache
def load_migrations() -> tuple[Migration, ...]:
    """Every migration of this package, in version order.

    Raises:
        StorageError: a module is misnamed, lacks a statement list, or the versions are not
            consecutive from 1 (a gap would mean a lost file).
    """
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        match = _MODULE_NAME.match(info.name)
        if match is None:
            raise StorageError(f"migration module {info.name!r} is not named NNNN_name.py")
        module = importlib.import_module(f"{__name__}.{info.name}")
        sqlite = getattr(module, "SQLITE", None)
        postgres = getattr(module, "POSTGRES", None)
        description = getattr(module, "DESCRIPTION", None)
        if not (isinstance(sqlite, tuple) and isinstance(postgres, tuple) and sqlite and postgres):
            raise StorageError(f"migration {info.name} needs non-empty SQLITE and POSTGRES tuples")
        if not isinstance(description, str):
            raise StorageError(f"migration {info.name} needs a DESCRIPTION string")
        found.append(Migration(int(match[1]), info.name, description, sqlite, postgres))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"migration versions must be 1, 2, 3... without gaps; got {versions}")
    return tuple(found)


def head() -> int:
    """The latest migration's version: the one a fully migrated database is at."""
    return load_migrations()[-1].version


def pending(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """The migrations not applied yet, in order.

    Raises:
        StorageError: the database holds a version this code does not know, i.e. a newer
            release migrated it; running older code on it could corrupt data.
    """
    todo = sorted(migrations, key=lambda migration: migration.version)
    known = {migration.version for migration in todo}
    done = set(applied)
    unknown = sorted(done - known)
    if unknown:
        raise StorageError(
            f"the database has schema versions {unknown} that this release does not know: "
            "it was migrated by a newer release"
        )
    return [migration for migration in todo if migration.version not in done]
