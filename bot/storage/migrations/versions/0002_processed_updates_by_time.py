"""Processed updates by time, to prune the old ones (duplicate detection needs days, no more)."""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_updates") as batch:
        batch.create_index("processed_updates_by_time", ["processed_at"])


def downgrade() -> None:
    with op.batch_alter_table("processed_updates") as batch:
        batch.drop_index("processed_updates_by_time")
