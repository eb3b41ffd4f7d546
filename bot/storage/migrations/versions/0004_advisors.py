"""Advisors and what managers share with them: login links and sessions (hashed), shares of
projects with their consent and withdrawal times, the advisors' private notes on projects."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.storage.migrations import ops
from bot.storage.schema import UtcDateTime

revision = "0004_advisors"
down_revision = "0003_projects"
branch_labels = None
depends_on = None


_table = ops.create_table


def _owner(table: str, *, primary: bool = False) -> sa.Column[int]:
    return ops.reference(f"{table[:-1]}_id", table, primary_key=primary, autoincrement=False)


def upgrade() -> None:
    _table(
        "advisors",
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("admin", sa.Boolean(create_constraint=True), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    _table(
        "advisor_logins",
        _owner("advisors"),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
    )
    op.create_index("advisor_logins_by_advisor", "advisor_logins", ["advisor_id"])
    _table(
        "advisor_sessions",
        _owner("advisors"),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("advisor_sessions_by_advisor", "advisor_sessions", ["advisor_id"])
    op.create_index("advisor_sessions_by_expiry", "advisor_sessions", ["expires_at"])
    _table(
        "advisor_shares",
        _owner("advisors"),
        _owner("users"),
        _owner("projects"),
        sa.Column("consented_at", UtcDateTime, nullable=False),
        sa.Column("withdrawn_at", UtcDateTime),
    )
    op.create_index("advisor_shares_by_advisor", "advisor_shares", ["advisor_id", "withdrawn_at"])
    op.create_index("advisor_shares_by_user", "advisor_shares", ["user_id"])
    op.create_index("advisor_shares_by_project", "advisor_shares", ["project_id"])
    ops.unique_where(
        "advisor_shares_current",
        "advisor_shares",
        ["advisor_id", "project_id"],
        "withdrawn_at IS NULL",
    )
    op.create_table(
        "advisor_notes",
        _owner("advisors", primary=True),
        _owner("projects", primary=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("advisor_notes_by_project", "advisor_notes", ["project_id"])


def downgrade() -> None:
    for table in (
        "advisor_notes",
        "advisor_shares",
        "advisor_sessions",
        "advisor_logins",
        "advisors",
    ):
        op.drop_table(table)
