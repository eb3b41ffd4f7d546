"""Alliance projects: several per manager, the partner invited into one, comments on the gaps.

New tables: projects, project_members (owner / partner), invitations (the SHA-256 of the
token only), gap_comments. New columns: users.current_project_id (where the user's messages
go), conversations.project_id (every walk belongs to a project), reminders.project_id (the
project a reminder is about).

Existing data: every user with a conversation gets one project, owned by them and current,
holding all their conversations (the active one and those archived by /restart); their
reminders name it. Every row is kept.

SQLite adds the new columns with ALTER TABLE ... ADD COLUMN, which keeps the tables and their
rows where they are: rebuilding `users` or `conversations` (batch mode) would drop the old
table, and with foreign keys on that deletes the rows that reference it. SQLite cannot add a
NOT NULL column with a reference that way, so conversations.project_id is NOT NULL on
PostgreSQL only; the storage always sets it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.storage.migrations import ops
from bot.storage.schema import Id, UtcDateTime

revision = "0003_projects"
down_revision = "0002"
branch_labels = None
depends_on = None


_table = ops.create_table
_reference = ops.reference


def _add_reference(table: str, column: str, target: str, ondelete: str) -> None:
    """A nullable column referencing target.id, added in place (no rebuild on SQLite)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} INTEGER"
            f" REFERENCES {target} (id) ON DELETE {ondelete}"
        )
        return
    op.add_column(table, sa.Column(column, sa.BigInteger))
    op.create_foreign_key(
        f"{table}_{column}_fkey", table, target, [column], ["id"], ondelete=ondelete
    )


def upgrade() -> None:
    _table(
        "projects",
        _reference("owner_id", "users", "CASCADE"),
        sa.Column("title", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("partner_left_at", UtcDateTime),
    )
    op.create_index("projects_by_owner", "projects", ["owner_id", "id"])

    op.create_table(
        "project_members",
        sa.Column(
            "project_id",
            Id,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("joined_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("role IN ('owner', 'partner')"),
    )
    op.create_index("project_members_by_user", "project_members", ["user_id"])
    op.create_index(
        "project_members_one_per_role", "project_members", ["project_id", "role"], unique=True
    )

    _table(
        "invitations",
        _reference("project_id", "projects", "CASCADE"),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        _reference("created_by", "users", "CASCADE"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
        _reference("used_by", "users", "SET NULL", nullable=True),
        sa.Column("declined_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
    )
    op.create_index("invitations_by_project", "invitations", ["project_id", "id"])
    op.create_index("invitations_by_user", "invitations", ["used_by"])
    op.create_index("invitations_by_creator", "invitations", ["created_by"])

    _table(
        "gap_comments",
        _reference("project_id", "projects", "CASCADE"),
        _reference("user_id", "users", "CASCADE"),
        sa.Column("dimension", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "gap_comments_key", "gap_comments", ["project_id", "user_id", "dimension"], unique=True
    )
    op.create_index("gap_comments_by_user", "gap_comments", ["user_id"])

    _add_reference("users", "current_project_id", "projects", "SET NULL")
    _add_reference("conversations", "project_id", "projects", "CASCADE")
    _add_reference("reminders", "project_id", "projects", "CASCADE")
    _adopt_existing_data()
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("conversations", "project_id", nullable=False)

    op.create_index("conversations_by_project", "conversations", ["project_id", "id"])
    op.drop_index("conversations_active", "conversations")
    ops.unique_where(
        "conversations_active", "conversations", ["user_id", "project_id"], "active = 1", "active"
    )
    op.create_index("reminders_by_project", "reminders", ["project_id"])
    op.drop_index("reminders_pending_key", "reminders")
    ops.unique_where(
        "reminders_pending_key",
        "reminders",
        ["user_id", sa.text("coalesce(project_id, 0)"), "kind", "ref"],
        "status = 'pending'",
    )


def _adopt_existing_data() -> None:
    """Every user with a conversation: one project holding all of them, current, theirs."""
    op.execute(
        "INSERT INTO projects (owner_id, title, created_at, updated_at)"
        " SELECT user_id, NULL, MIN(created_at), MAX(updated_at) FROM conversations"
        " GROUP BY user_id ORDER BY user_id"
    )
    op.execute(
        "INSERT INTO project_members (project_id, user_id, role, joined_at)"
        " SELECT id, owner_id, 'owner', created_at FROM projects"
    )
    op.execute(
        "UPDATE users SET current_project_id ="
        " (SELECT projects.id FROM projects WHERE projects.owner_id = users.id)"
    )
    op.execute(
        "UPDATE conversations SET project_id ="
        " (SELECT projects.id FROM projects WHERE projects.owner_id = conversations.user_id)"
    )
    op.execute(
        "UPDATE reminders SET project_id = COALESCE("
        " (SELECT conversations.project_id FROM conversations"
        "  WHERE conversations.id = reminders.conversation_id),"
        " (SELECT projects.id FROM projects WHERE projects.owner_id = reminders.user_id))"
    )


def downgrade() -> None:
    raise NotImplementedError("a database with projects cannot go back to one walk per user")
