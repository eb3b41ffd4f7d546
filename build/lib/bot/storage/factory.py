"""Open the storage a DATABASE_URL names."""

from __future__ import annotations

import re

from bot.errors import ConfigError
from bot.storage.database import Storage

_SQLITE_PREFIX = "sqlite://"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# "name:" at the start: a URL (or a mistyped one), never taken for a file name.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def open_storage(database_url: str) -> Storage:
    """Open the database database_url names; the caller then awaits migrate() and, at the end,
    close().

    Accepted forms:

    - ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (as in SQLAlchemy:
      what follows ``sqlite:///`` is the path), ``sqlite://`` or ``sqlite:///:memory:`` for a
      private in-memory database;
    - a plain file path, e.g. ``data/alliance.db`` (not starting with ``name:``, so that a
      mistyped URL is an error rather than a new file);
    - ``postgresql://...`` or ``postgres://...``: any libpq URL, handed to libpq unchanged, so
      its parameters work, e.g. ``?options=-csearch_path%3Dalliance`` for a schema.

    Raises:
        ConfigError: the URL is empty or names an unsupported database.
        StorageError: the SQLite file cannot be created (a server is reached at first use).
    """
    from bot.storage.database import MEMORY, postgres_storage, sqlite_storage

    url = database_url.strip()
    if not url:
        raise ConfigError("the database URL is empty")
    if url.startswith(_POSTGRES_SCHEMES):
        return postgres_storage(url)
    if url.startswith(_SQLITE_PREFIX):
        rest = url[len(_SQLITE_PREFIX) :]
        if rest in ("", "/:memory:"):
            return sqlite_storage(MEMORY)
        if not rest.startswith("/") or rest == "/" or "?" in rest:
            raise ConfigError(
                f"unsupported SQLite URL {database_url!r}: write sqlite:///relative/path.db "
                "or sqlite:////absolute/path.db, without parameters"
            )
        return sqlite_storage(rest[1:])
    if _SCHEME.match(url):
        scheme = url.split(":", 1)[0]
        raise ConfigError(
            f"unsupported database {scheme!r} in the database URL: use sqlite:///path, "
            "a file path, or postgresql://..."
        )
    return sqlite_storage(url)
