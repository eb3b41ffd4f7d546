"""The tables, described once for every database (SQLAlchemy Core).

Timestamps are UTC: ISO-8601 text with microseconds on SQLite (so text order is time order),
timestamptz on PostgreSQL (`UtcDateTime`). JSON values are stored as text on both, so both
return exactly what was written. Ids are never reused (AUTOINCREMENT, identity columns): a stale
reference to an erased user can never point at someone else.

The migrations in bot/storage/migrations/versions/ build these tables; a change here goes with
a new migration there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    func,
    literal_column,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# BIGINT identity on PostgreSQL; INTEGER on SQLite, where only that is the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")
REMINDER_STATUSES = ("pending", "sent", "done", "cancelled", "failed")
MEMBER_ROLES = ("owner", "partner")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, returned in UTC; refuses naive ones (ValueError)."""

    impl = TIMESTAMP(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(TIMESTAMP(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        moment: datetime = value
        return moment.astimezone(UTC)


def _unique_where(name: str, *columns: str, where: str, postgres_where: str = "") -> Index:
    """A unique index over the rows where `where` holds (PostgreSQL: `postgres_where`, if it
    is written otherwise there)."""
    return Index(
        name,
        *columns,
        unique=True,
        sqlite_where=text(where),
        postgresql_where=text(postgres_where or where),
    )


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", Text, nullable=False, unique=True),
    Column("lang", Text, nullable=False),
    Column("tz", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("blocked_at", UtcDateTime),
    # The project the user's messages go to (None: none yet, or the last one was deleted).
    Column("current_project_id", Id, ForeignKey("projects.id", ondelete="SET NULL")),
    sqlite_autoincrement=True,
)

# One alliance project: a manager (its owner) and one prospective partner.
projects = Table(
    "projects",
    metadata,
    Column("id", Id, primary_key=True),
    Column("owner_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text),  # the partner's name as the manager gave it; None: untitled
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The invited partner erased their data from the project (their /delete).
    Column("partner_left_at", UtcDateTime),
    # A user's projects in order, and the cascade when a user is erased.
    Index("projects_by_owner", "owner_id", "id"),
    sqlite_autoincrement=True,
)

# Who takes part in a project: its owner, and the partner once they accepted an invitation.
project_members = Table(
    "project_members",
    metadata,
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", Text, nullable=False),
    Column("joined_at", UtcDateTime, nullable=False),
    CheckConstraint("role IN (" + ", ".join(f"'{role}'" for role in MEMBER_ROLES) + ")"),
    # A user's projects, whatever their role; the cascade when a user is erased.
    Index("project_members_by_user", "user_id"),
    # One owner and at most one partner per project.
    Index("project_members_one_per_role", "project_id", "role", unique=True),
)

# A link that lets one person join a project as its partner. Only the SHA-256 of the token is
# kept: the database alone cannot be used to join.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),  # hex SHA-256 of the token
    Column("created_by", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),  # opened and answered (accepted or declined)
    Column("used_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("declined_at", UtcDateTime),  # used, and the invitation was declined
    Column("revoked_at", UtcDateTime),
    # A project's invitations, and the cascade when a project is erased.
    Index("invitations_by_project", "project_id", "id"),
    Index("invitations_by_user", "used_by"),
    Index("invitations_by_creator", "created_by"),
    sqlite_autoincrement=True,
)

# A short note of one side of a project on one gap of the divergence report.
gap_comments = Table(
    "gap_comments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("dimension", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # One comment per side and gap (writing again replaces it); a project's comments in order.
    Index("gap_comments_key", "project_id", "user_id", "dimension", unique=True),
    Index("gap_comments_by_user", "user_id"),
    sqlite_autoincrement=True,
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("dialogue_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # JSON: the dialogue core's state, opaque here
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("active", Boolean, nullable=False),
    # The project this walk belongs to (the owner's, or the partner's own walk in it). Always
    # set; on SQLite the column added by migration 0003 cannot carry NOT NULL.
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    # Listing a user's conversations, and the cascade when a user is erased.
    Index("conversations_by_user", "user_id", "id"),
    # A project's conversations, and the cascade when a project is erased.
    Index("conversations_by_project", "project_id", "id"),
    # At most one active conversation per user and project; also the per-update lookup.
    _unique_where(
        "conversations_active",
        "user_id",
        "project_id",
        where="active = 1",
        postgres_where="active",
    ),
    sqlite_autoincrement=True,
)


def active_walk(user_id: Any, project_id: Any) -> ColumnElement[bool]:
    """The condition "this row of `conversations` is the user's active walk in the project"."""
    return and_(
        conversations.c.user_id == user_id,
        conversations.c.project_id == project_id,
        conversations.c.active == true(),
    )


answers = Table(
    "answers",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("question_id", Text, nullable=False),
    Column("value", Text, nullable=False),  # JSON
    Column("answered_at", UtcDateTime, nullable=False),
    Column("superseded_at", UtcDateTime),  # set when a later answer replaced this one
    # History in order, and the cascade when a conversation is erased.
    Index("answers_by_conversation", "conversation_id", "id"),
    # At most one current answer per question; also the per-update lookup.
    _unique_where(
        "answers_current", "conversation_id", "question_id", where="superseded_at IS NULL"
    ),
    sqlite_autoincrement=True,
)

processed_updates = Table(
    "processed_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE")),
    Column("processed_at", UtcDateTime, nullable=False),
    Index("processed_updates_by_user", "user_id"),
    # Pruning the old ones.
    Index("processed_updates_by_time", "processed_at"),
)

reminders = Table(
    "reminders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE")),
    Column("kind", Text, nullable=False),
    Column("ref", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", Text),
    Column("claimed_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The project it is about (None: a reminder of a user who has none).
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE")),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{status}'" for status in REMINDER_STATUSES) + ")"
    ),
    CheckConstraint("attempts >= 0"),
    CheckConstraint("(claimed_by IS NULL) = (claimed_until IS NULL)"),
    # claim_due: the pending ones, in due order.
    Index("reminders_due", "status", "due_at", "id"),
    # A user's pending reminders in due order, and the cascade when a user is erased.
    Index("reminders_by_user", "user_id", "status", "due_at", "id"),
    # The cascade when a conversation or a project is erased.
    Index("reminders_by_conversation", "conversation_id"),
    Index("reminders_by_project", "project_id"),
    sqlite_autoincrement=True,
)
# Idempotent scheduling: one pending reminder per user, project, kind and ref (a reminder of no
# project counts as project 0).
REMINDER_PROJECT_KEY = func.coalesce(reminders.c.project_id, literal_column("0"))
Index(
    "reminders_pending_key",
    reminders.c.user_id,
    REMINDER_PROJECT_KEY,
    reminders.c.kind,
    reminders.c.ref,
    unique=True,
    sqlite_where=text("status = 'pending'"),
    postgresql_where=text("status = 'pending'"),
)

# Advisors: the people who coach many managers, through the web view (bot/web/).

advisors = Table(
    "advisors",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("code", Text, nullable=False, unique=True),  # what a manager types to share with them
    Column("lang", Text, nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

advisor_logins = Table(
    "advisor_logins",
    metadata,
    Column("id", Id, primary_key=True),
    Column("advisor_id", Id, ForeignKey("advisors.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),  # SHA-256 of the link's token
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index("advisor_logins_by_advisor", "advisor_id"),
    sqlite_autoincrement=True,
)

advisor_sessions = Table(
    "advisor_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("advisor_id", Id, ForeignKey("advisors.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),  # SHA-256 of the cookie's value
    Column("csrf", Text, nullable=False),  # the token every form of the session carries
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("advisor_sessions_by_advisor", "advisor_id"),
    Index("advisor_sessions_by_expiry", "expires_at"),
    sqlite_autoincrement=True,
)

advisor_shares = Table(
    "advisor_shares",
    metadata,
    Column("id", Id, primary_key=True),
    Column("advisor_id", Id, ForeignKey("advisors.id", ondelete="CASCADE"), nullable=False),
    # The manager who consented: the project's owner.
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("consented_at", UtcDateTime, nullable=False),
    Column("withdrawn_at", UtcDateTime),  # set when the manager withdrew it: kept as a record
    # An advisor's projects, and the cascade when an advisor is removed.
    Index("advisor_shares_by_advisor", "advisor_id", "withdrawn_at"),
    # A manager's shares (/advisor), and the cascade when a user is erased.
    Index("advisor_shares_by_user", "user_id"),
    Index("advisor_shares_by_project", "project_id"),
    # A project is shared at most once at a time with one advisor.
    _unique_where(
        "advisor_shares_current", "advisor_id", "project_id", where="withdrawn_at IS NULL"
    ),
    sqlite_autoincrement=True,
)

advisor_notes = Table(
    "advisor_notes",
    metadata,
    Column(
        "advisor_id",
        Id,
        ForeignKey("advisors.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column(
        "project_id",
        Id,
        ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("text", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("advisor_notes_by_project", "project_id"),
)
