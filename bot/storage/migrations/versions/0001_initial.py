"""Users, conversations, answers with history, processed updates, reminders.

A database made by the bot's earlier migration runner (its table ``schema_migrations``, versions
1 and 2) already holds these tables, rows and all: it is taken over as it is, and only that
runner's bookkeeping table goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.errors import StorageError
from bot.storage.migrations import ops
from bot.storage.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEGACY_TABLE = "schema_migrations"
LEGACY_VERSIONS = {1, 2}  # 1: the checklist's tables, 2: reminders


_table = ops.create_table


def _owner(table: str, *, nullable: bool = False) -> sa.Column[int]:
    return ops.reference(f"{table[:-1]}_id", table, nullable=nullable)


_unique_where = ops.unique_where


def upgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table(LEGACY_TABLE):
        applied = {row[0] for row in bind.execute(sa.text(f"SELECT version FROM {LEGACY_TABLE}"))}
        if applied - LEGACY_VERSIONS:
            raise StorageError(
                f"the database has schema versions {sorted(applied)} that this release does "
                "not know: it was migrated by a newer release"
            )
        if 1 in applied:
            if 2 not in applied:
                _create_reminders()
            op.drop_table(LEGACY_TABLE)
            return
        op.drop_table(LEGACY_TABLE)  # the runner started but applied nothing
    _create_checklist_tables()
    _create_reminders()


def _create_checklist_tables() -> None:
    _table(
        "users",
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("tz", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("blocked_at", UtcDateTime),
    )
    _table(
        "conversations",
        _owner("users"),
        sa.Column("dialogue_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("active", sa.Boolean(create_constraint=True), nullable=False),
    )
    op.create_index("conversations_by_user", "conversations", ["user_id", "id"])
    _unique_where("conversations_active", "conversations", ["user_id"], "active = 1", "active")
    _table(
        "answers",
        _owner("conversations"),
        sa.Column("question_id", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("answered_at", UtcDateTime, nullable=False),
        sa.Column("superseded_at", UtcDateTime),
    )
    op.create_index("answers_by_conversation", "answers", ["conversation_id", "id"])
    _unique_where(
        "answers_current", "answers", ["conversation_id", "question_id"], "superseded_at IS NULL"
    )
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
        _owner("users", nullable=True),
        sa.Column("processed_at", UtcDateTime, nullable=False),
    )
    op.create_index("processed_updates_by_user", "processed_updates", ["user_id"])


def _create_reminders() -> None:
    statuses = "'pending', 'sent', 'done', 'cancelled', 'failed'"
    _table(
        "reminders",
        _owner("users"),
        _owner("conversations", nullable=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(f"status IN ({statuses})"),
        sa.CheckConstraint("attempts >= 0"),
        sa.CheckConstraint("(claimed_by IS NULL) = (claimed_until IS NULL)"),
    )
    op.create_index("reminders_due", "reminders", ["status", "due_at", "id"])
    op.create_index("reminders_by_user", "reminders", ["user_id", "status", "due_at", "id"])
    op.create_index("reminders_by_conversation", "reminders", ["conversation_id"])
    _unique_where(
        "reminders_pending_key", "reminders", ["user_id", "kind", "ref"], "status = 'pending'"
    )


def downgrade() -> None:
    for table in ("reminders", "processed_updates", "answers", "conversations", "users"):
        op.drop_table(table)
