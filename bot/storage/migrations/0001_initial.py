"""Users, conversations, answers (with history) and processed Telegram updates.

Timestamps are UTC: ISO-8601 text with microseconds on SQLite (so text order is time order),
timestamptz on PostgreSQL. JSON values are stored as text on both, so both return exactly what
was written. Ids are never reused (AUTOINCREMENT, identity columns): a stale reference to an
erased user can never point at someone else.
"""

DESCRIPTION = "users, conversations, answers with history, processed updates"

SQLITE = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        lang TEXT NOT NULL,
        tz TEXT NOT NULL,
        created_at TEXT NOT NULL,
        blocked_at TEXT
    )
    """,
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        dialogue_id TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        active INTEGER NOT NULL CHECK (active IN (0, 1))
    )
    """,
    # Listing a user's conversations, and the cascade when a user is erased.
    "CREATE INDEX conversations_by_user ON conversations (user_id, id)",
    # At most one active conversation per user; also the per-update lookup.
    "CREATE UNIQUE INDEX conversations_active ON conversations (user_id) WHERE active = 1",
    """
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        value TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        superseded_at TEXT
    )
    """,
    # History in order, and the cascade when a conversation is erased.
    "CREATE INDEX answers_by_conversation ON answers (conversation_id, id)",
    # At most one current answer per question; also the per-update lookup.
    """
    CREATE UNIQUE INDEX answers_current ON answers (conversation_id, question_id)
        WHERE superseded_at IS NULL
    """,
    """
    CREATE TABLE processed_updates (
        update_id INTEGER PRIMARY KEY,
        user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
        processed_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX processed_updates_by_user ON processed_updates (user_id)",
)

POSTGRES = (
    """
    CREATE TABLE users (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        lang TEXT NOT NULL,
        tz TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        blocked_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE conversations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        dialogue_id TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        active BOOLEAN NOT NULL
    )
    """,
    "CREATE INDEX conversations_by_user ON conversations (user_id, id)",
    "CREATE UNIQUE INDEX conversations_active ON conversations (user_id) WHERE active",
    """
    CREATE TABLE answers (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        value TEXT NOT NULL,
        answered_at TIMESTAMPTZ NOT NULL,
        superseded_at TIMESTAMPTZ
    )
    """,
    "CREATE INDEX answers_by_conversation ON answers (conversation_id, id)",
    """
    CREATE UNIQUE INDEX answers_current ON answers (conversation_id, question_id)
        WHERE superseded_at IS NULL
    """,
    """
    CREATE TABLE processed_updates (
        update_id BIGINT PRIMARY KEY,
        user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
        processed_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX processed_updates_by_user ON processed_updates (user_id)",
)
