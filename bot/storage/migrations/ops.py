"""Shapes the migrations in versions/ share.

Frozen like the migrations themselves: what an applied migration did depends on these, so none
of them may change. A new shape gets a new function. Nothing here reads the live schema
(bot/storage/schema.py) beyond the column types the migrations already take from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.elements import TextClause

from bot.storage.schema import Id


def create_table(name: str, *columns: sa.schema.SchemaItem) -> None:
    """A table whose ids are never reused (AUTOINCREMENT, an identity column)."""
    primary = sa.Column("id", Id, sa.Identity(always=True), primary_key=True)
    op.create_table(name, primary, *columns, sqlite_autoincrement=True)


def reference(
    name: str, table: str, ondelete: str = "CASCADE", *, nullable: bool = False, **kw: Any
) -> sa.Column[int]:
    """A column holding the id of a row of `table`."""
    return sa.Column(
        name, Id, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable, **kw
    )


def unique_where(
    name: str, table: str, columns: Sequence[str | TextClause], where: str, pg: str = ""
) -> None:
    """A unique index over the rows where `where` holds (PostgreSQL: `pg`, if given)."""
    op.create_index(
        name,
        table,
        list(columns),
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(pg or where),
    )
