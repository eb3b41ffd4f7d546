"""Follow-up reminders: what to tell a user, when, and where its delivery stands.

A reminder is ``pending`` until sent, then ``sent``; the user may close it (``done``,
``cancelled``), the dispatcher may give up on it (``failed``). A dispatcher claims a due
reminder by writing its name and a lease end into ``claimed_by`` / ``claimed_until``; both are
set or both are empty. At most one *pending* reminder exists per (user, kind, ref): scheduling
the same thing again moves it instead of adding a second one. Reminders go with their user and
with their conversation (ON DELETE CASCADE).
"""

DESCRIPTION = "reminders: follow-up reminders with a claim lease for the dispatcher"

_STATUSES = "('pending', 'sent', 'done', 'cancelled', 'failed')"

SQLITE = (
    f"""
    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        payload TEXT NOT NULL,
        due_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN {_STATUSES}),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        claimed_by TEXT,
        claimed_until TEXT,
        sent_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK ((claimed_by IS NULL) = (claimed_until IS NULL))
    )
    """,
    # claim_due: the pending ones, in due order.
    "CREATE INDEX reminders_due ON reminders (status, due_at, id)",
    # A user's pending reminders in due order, and the cascade when a user is erased.
    "CREATE INDEX reminders_by_user ON reminders (user_id, status, due_at, id)",
    # The cascade when a conversation is erased.
    "CREATE INDEX reminders_by_conversation ON reminders (conversation_id)",
    # Idempotent scheduling: one pending reminder per user, kind and ref.
    """
    CREATE UNIQUE INDEX reminders_pending_key ON reminders (user_id, kind, ref)
        WHERE status = 'pending'
    """,
)

POSTGRES = (
    f"""
    CREATE TABLE reminders (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        conversation_id BIGINT REFERENCES conversations (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        payload TEXT NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        status TEXT NOT NULL CHECK (status IN {_STATUSES}),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        claimed_by TEXT,
        claimed_until TIMESTAMPTZ,
        sent_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CHECK ((claimed_by IS NULL) = (claimed_until IS NULL))
    )
    """,
    "CREATE INDEX reminders_due ON reminders (status, due_at, id)",
    "CREATE INDEX reminders_by_user ON reminders (user_id, status, due_at, id)",
    "CREATE INDEX reminders_by_conversation ON reminders (conversation_id)",
    """
    CREATE UNIQUE INDEX reminders_pending_key ON reminders (user_id, kind, ref)
        WHERE status = 'pending'
    """,
)
