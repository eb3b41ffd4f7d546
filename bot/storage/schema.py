"""The tables, described once for every database (SQLAlchemy Core).

Timestamps are UTC: ISO-8601 text with microseconds on SQLite (so text order is time order),
timestamptz on PostgreSQL (`UtcDateTime`). JSON values are stored as text on both, so both
return exactly what was written. Ids are never reused (AUTOINCREMENT, identity columns): a stale
reference to an erased user can never point at someone else.

The migrations in bot/storage/migrations/versions/ build these tables; a change here goes with
a new migration there. A new, empty database is created from these tables at once
(`create_all`, then stamped at the latest migration: bot/storage/migrations/__init__.py);
`tests/test_migrations.py` checks that both ways build the same schema, on both databases.
Create them with `create_all` below, not with `metadata.create_all`: it runs the statements
shipped in bot/storage/sql/, where the rows a partial index covers and SQLite's exceptions are
written for each database (so a SQLite bot never loads SQLAlchemy's PostgreSQL dialect). After a
change here, `python -m bot.storage.schema` writes those files again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Dialect,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    create_mock_engine,
    func,
    literal_column,
    text,
    true,
)
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


def _rows(name: str, *items: Any) -> Table:
    """A table whose rows have an `id` of their own, never reused (AUTOINCREMENT on SQLite)."""
    return Table(
        name,
        metadata,
        Column("id", Id, Identity(always=True), primary_key=True),
        *items,
        sqlite_autoincrement=True,
    )


def _ref(
    name: str, table: str, *, ondelete: str = "CASCADE", nullable: bool = False, **kw: Any
) -> Column[Any]:
    """A column holding the id of a row of `table`; by default required and erased with it."""
    return Column(name, Id, ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable, **kw)


def _moment(name: str, *, nullable: bool = False) -> Column[datetime]:
    """A column holding an aware moment (UtcDateTime); by default required."""
    return Column(name, UtcDateTime, nullable=nullable)


def _unique_where(name: str, *columns: Any, where: str, postgres_where: str = "") -> Index:
    """A unique index over the rows where `where` holds (PostgreSQL: `postgres_where`, if it
    is written otherwise there); `create_all` gives each database its condition."""
    return Index(
        name,
        *columns,
        unique=True,
        info={_WHERE: {"sqlite": where, "postgresql": postgres_where or where}},
    )


def _boolean() -> Boolean:
    """A boolean: native on PostgreSQL, 0 or 1 (checked) on SQLite."""
    return Boolean(create_constraint=True)


_WHERE = "partial_index_where"  # Index.info key: database name -> the rows it covers
_SQLITE_NULLABLE = "sqlite_nullable"  # Column.info key: NOT NULL on PostgreSQL only

metadata = MetaData()

users = _rows(
    "users",
    Column("key", Text, nullable=False, unique=True),
    Column("lang", Text, nullable=False),
    Column("tz", Text, nullable=False),
    _moment("created_at"),
    _moment("blocked_at", nullable=True),
    # The project the user's messages go to (None: none yet, or the last one was deleted).
    # Projects reference users too: this reference is added once both tables exist.
    Column(
        "current_project_id",
        Id,
        ForeignKey("projects.id", ondelete="SET NULL", use_alter=True),
        nullable=True,
    ),
)

# One alliance project: a manager (its owner) and one prospective partner.
projects = _rows(
    "projects",
    _ref("owner_id", "users"),
    Column("title", Text),  # the partner's name as the manager gave it; None: untitled
    _moment("created_at"),
    _moment("updated_at"),
    # The invited partner erased their data from the project (their /delete).
    _moment("partner_left_at", nullable=True),
    # A user's projects in order, and the cascade when a user is erased.
    Index("projects_by_owner", "owner_id", "id"),
)

# Who takes part in a project: its owner, and the partner once they accepted an invitation.
project_members = Table(
    "project_members",
    metadata,
    _ref("project_id", "projects", primary_key=True),
    _ref("user_id", "users", primary_key=True),
    Column("role", Text, nullable=False),
    _moment("joined_at"),
    CheckConstraint("role IN (" + ", ".join(f"'{role}'" for role in MEMBER_ROLES) + ")"),
    # A user's projects, whatever their role; the cascade when a user is erased.
    Index("project_members_by_user", "user_id"),
    # One owner and at most one partner per project.
    Index("project_members_one_per_role", "project_id", "role", unique=True),
)

# A link that lets one person join a project as its partner. Only the SHA-256 of the token is
# kept: the database alone cannot be used to join.
invitations = _rows(
    "invitations",
    _ref("project_id", "projects"),
    Column("token_hash", Text, nullable=False, unique=True),  # hex SHA-256 of the token
    _ref("created_by", "users"),
    _moment("created_at"),
    _moment("expires_at"),
    _moment("used_at", nullable=True),  # opened and answered (accepted or declined)
    _ref("used_by", "users", ondelete="SET NULL", nullable=True),
    _moment("declined_at", nullable=True),  # used, and the invitation was declined
    _moment("revoked_at", nullable=True),
    # A project's invitations, and the cascade when a project is erased.
    Index("invitations_by_project", "project_id", "id"),
    Index("invitations_by_user", "used_by"),
    Index("invitations_by_creator", "created_by"),
)

# A short note of one side of a project on one gap of the divergence report.
gap_comments = _rows(
    "gap_comments",
    _ref("project_id", "projects"),
    _ref("user_id", "users"),
    Column("dimension", Text, nullable=False),
    Column("body", Text, nullable=False),
    _moment("created_at"),
    _moment("updated_at"),
    # One comment per side and gap (writing again replaces it); a project's comments in order.
    Index("gap_comments_key", "project_id", "user_id", "dimension", unique=True),
    Index("gap_comments_by_user", "user_id"),
)

conversations = _rows(
    "conversations",
    _ref("user_id", "users"),
    Column("dialogue_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # JSON: the dialogue core's state, opaque here
    Column("version", Integer, nullable=False),
    _moment("created_at"),
    _moment("updated_at"),
    _moment("finished_at", nullable=True),
    Column("active", _boolean(), nullable=False),
    # The project this walk belongs to (the owner's, or the partner's own walk in it). Always
    # set; on SQLite the column added by migration 0003 cannot carry NOT NULL.
    _ref("project_id", "projects", info={_SQLITE_NULLABLE: True}),
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
)


def active_walk(user_id: Any, project_id: Any) -> ColumnElement[bool]:
    """The condition "this row of `conversations` is the user's active walk in the project"."""
    return and_(
        conversations.c.user_id == user_id,
        conversations.c.project_id == project_id,
        conversations.c.active == true(),
    )


answers = _rows(
    "answers",
    Column(
        "conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("question_id", Text, nullable=False),
    Column("value", Text, nullable=False),  # JSON
    _moment("answered_at"),
    _moment("superseded_at", nullable=True),  # set when a later answer replaced this one
    # History in order, and the cascade when a conversation is erased.
    Index("answers_by_conversation", "conversation_id", "id"),
    # At most one current answer per question; also the per-update lookup.
    _unique_where(
        "answers_current", "conversation_id", "question_id", where="superseded_at IS NULL"
    ),
)

processed_updates = Table(
    "processed_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    _ref("user_id", "users", nullable=True),
    _moment("processed_at"),
    Index("processed_updates_by_user", "user_id"),
    # Pruning the old ones.
    Index("processed_updates_by_time", "processed_at"),
)

reminders = _rows(
    "reminders",
    _ref("user_id", "users"),
    _ref("conversation_id", "conversations", nullable=True),
    Column("kind", Text, nullable=False),
    Column("ref", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    _moment("due_at"),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", Text),
    _moment("claimed_until", nullable=True),
    _moment("sent_at", nullable=True),
    _moment("created_at"),
    _moment("updated_at"),
    # The project it is about (None: a reminder of a user who has none).
    _ref("project_id", "projects", nullable=True),
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
)
# Idempotent scheduling: one pending reminder per user, project, kind and ref (a reminder of no
# project counts as project 0).
REMINDER_PROJECT_KEY = func.coalesce(reminders.c.project_id, literal_column("0"))
_unique_where(
    "reminders_pending_key",
    reminders.c.user_id,
    REMINDER_PROJECT_KEY,
    reminders.c.kind,
    reminders.c.ref,
    where="status = 'pending'",
)

# Advisors: the people who coach many managers, through the web view (bot/web/).

advisors = _rows(
    "advisors",
    Column("name", Text, nullable=False, unique=True),
    Column("code", Text, nullable=False, unique=True),  # what a manager types to share with them
    Column("lang", Text, nullable=False),
    Column("admin", _boolean(), nullable=False),
    _moment("created_at"),
)

advisor_logins = _rows(
    "advisor_logins",
    _ref("advisor_id", "advisors"),
    Column("token_hash", Text, nullable=False, unique=True),  # SHA-256 of the link's token
    _moment("created_at"),
    _moment("expires_at"),
    _moment("used_at", nullable=True),
    Index("advisor_logins_by_advisor", "advisor_id"),
)

advisor_sessions = _rows(
    "advisor_sessions",
    _ref("advisor_id", "advisors"),
    Column("token_hash", Text, nullable=False, unique=True),  # SHA-256 of the cookie's value
    Column("csrf", Text, nullable=False),  # the token every form of the session carries
    _moment("created_at"),
    _moment("expires_at"),
    Index("advisor_sessions_by_advisor", "advisor_id"),
    Index("advisor_sessions_by_expiry", "expires_at"),
)

advisor_shares = _rows(
    "advisor_shares",
    _ref("advisor_id", "advisors"),
    # The manager who consented: the project's owner.
    _ref("user_id", "users"),
    _ref("project_id", "projects"),
    _moment("consented_at"),
    _moment("withdrawn_at", nullable=True),  # set when the manager withdrew it: kept as a record
    # An advisor's projects, and the cascade when an advisor is removed.
    Index("advisor_shares_by_advisor", "advisor_id", "withdrawn_at"),
    # A manager's shares (/advisor), and the cascade when a user is erased.
    Index("advisor_shares_by_user", "user_id"),
    Index("advisor_shares_by_project", "project_id"),
    # A project is shared at most once at a time with one advisor.
    _unique_where(
        "advisor_shares_current", "advisor_id", "project_id", where="withdrawn_at IS NULL"
    ),
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
    _moment("updated_at"),
    Index("advisor_notes_by_project", "project_id"),
)


SQL_FOLDER = Path(__file__).parent / "sql"
_HEADER = (
    "-- The statements that create the tables of bot/storage/schema.py in a new {database}\n"
    "-- database. Written by `python -m bot.storage.schema`: do not edit by hand.\n\n"
)


def create_all(connection: Connection) -> None:
    """Create every table and index in connection's empty database, in its transaction, as
    the migrations leave them at their latest revision.

    The statements are the ones shipped in bot/storage/sql/ for the database at hand, written
    from these tables by `python -m bot.storage.schema` (`creation_sql`): compiling them at
    start-up cost more than running them. `tests/test_schema_sql.py` keeps the files true to
    the tables.
    """
    for statement in creation_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


def creation_statements(database: str) -> list[str]:
    """The shipped statements that create the schema in a new `database` ("sqlite" or
    "postgresql")."""
    script = (SQL_FOLDER / f"{database}.sql").read_text(encoding="utf-8")
    lines = (line for line in script.splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in "\n".join(lines).split(";\n") if statement.strip()]


def creation_sql(database: str) -> str:
    """The statements that create these tables in a new `database`, compiled by SQLAlchemy.

    The tables are copied for the database at hand: each partial index gets that database's
    condition, and a column NOT NULL on PostgreSQL only stays nullable on SQLite. The indexes
    of a table come in the order of their names (SQLAlchemy keeps them in a set).
    """
    url = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://"}[database]
    statements: list[str] = []

    def record(sql: Any, *_: Any, **__: Any) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)))

    engine = create_mock_engine(url, record)
    target = MetaData()
    for table in metadata.tables.values():
        copy = table.to_metadata(target)
        for column in table.columns:
            if database == "sqlite" and column.info.get(_SQLITE_NULLABLE):
                copy.c[column.name].nullable = True
        for index in table.indexes:
            where = index.info.get(_WHERE)
            if where is not None:
                [twin] = (found for found in copy.indexes if found.name == index.name)
                twin.dialect_kwargs[f"{database}_where"] = text(where[database])
    target.create_all(engine, checkfirst=False)
    ordered: list[str] = []
    indexes: list[str] = []
    for found in statements:  # without the spaces SQLAlchemy leaves at the ends of lines
        statement = _in_stable_order(
            "\n".join(line.rstrip() for line in found.strip().splitlines())
        )
        if statement.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            indexes.append(statement)
            continue
        ordered += sorted(indexes)
        indexes = []
        ordered.append(statement)
    ordered += sorted(indexes)
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[database]
    return _HEADER.format(database=name) + "".join(f"{s};\n\n" for s in ordered)


# Table constraints whose order within a CREATE TABLE changes nothing (SQLite numbers the
# indexes of PRIMARY KEY and UNIQUE constraints in their order: those stay as compiled).
_UNORDERED = ("FOREIGN KEY", "CHECK")


def _in_stable_order(statement: str) -> str:
    """A CREATE TABLE with its foreign keys and checks sorted: a copied table keeps its
    constraints in a set, so they come in any order."""
    if not statement.startswith("CREATE TABLE"):
        return statement
    head, _, rest = statement.partition("(\n")
    body, _, tail = rest.rpartition("\n)")
    lines = [line.rstrip(",") for line in body.split("\n")]
    kept = [line for line in lines if not line.strip().startswith(_UNORDERED)]
    unordered = sorted(line for line in lines if line.strip().startswith(_UNORDERED))
    return f"{head}(\n" + ",\n".join(kept + unordered) + f"\n){tail}"


def main() -> None:
    """Write bot/storage/sql/ from the tables (after a change to them, with its migration)."""
    for database in ("sqlite", "postgresql"):
        path = SQL_FOLDER / f"{database}.sql"
        path.write_text(creation_sql(database), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
