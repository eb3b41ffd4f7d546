"""Shapes the migrations in versions/ share.

Frozen like the migrations themselves: what an applied migration did depends on these, so none
of them may change. A new shape gets a new function. Nothing here reads the live schema
(bot/storage/schema.py) beyond the column types the migrations already take from it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

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
