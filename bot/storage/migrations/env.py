"""Alembic's environment: run the migrations on the connection the storage hands over.

Started by bot.storage.migrations.upgrade (at start-up and by `alliance-bot migrate`), never
from an alembic.ini: the connection, already in its transaction, is in config.attributes.
SQLite runs in batch mode, so a column change rebuilds the table as SQLite requires.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
