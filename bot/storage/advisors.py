"""The storage's advisor methods: advisors, login links, sessions, shares, notes.

Part of `Storage` (bot/storage/database.py inherits them), on its transactions: every method runs
in ONE transaction in a worker thread, on SQLite and PostgreSQL alike. Secrets are never stored:
a login link's token and a session cookie are kept as their SHA-256 (bot/advisors/tokens.py
makes them), so a copy of the database opens no session. Times are passed in (`now`), aware.

A share is a manager's consent to show one of their projects (the ones they own) to one
advisor; a withdrawn share keeps its row, with `withdrawn_at`, as the record of when consent
ended. An advisor reads only through shares not withdrawn: no method here returns a project
without one. What an advisor reads of a project is its owner's side: the owner's active walk in
it and its answers (a partner's own answers are theirs; they reach the advisor only through
what the manager's report shows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Row, and_, bindparam, delete, select, update

from bot.storage.base import (
    JSON,
    Advisor,
    AdvisorSession,
    Conversation,
    Project,
    ProjectFacts,
    Share,
    SharedProject,
    User,
    check_aware,
)
from bot.storage.schema import (
    active_walk,
    advisor_logins,
    advisor_notes,
    advisor_sessions,
    advisor_shares,
    advisors,
    answers,
    conversations,
    project_members,
    projects,
    users,
)

T = TypeVar("T")

_ADVISOR_COLUMNS = len(advisors.c)
_CURRENT_SHARE = advisor_shares.c.withdrawn_at.is_(None)
# The projects shared and not withdrawn, with their owner, the owner's active walk in each, and
# the advisor's note.
_SHARED = (
    select(advisor_shares, projects, users, conversations, advisor_notes.c.text)
    .join(projects, projects.c.id == advisor_shares.c.project_id)
    .join(users, users.c.id == projects.c.owner_id)
    .outerjoin(conversations, active_walk(projects.c.owner_id, projects.c.id))
    .outerjoin(
        advisor_notes,
        and_(
            advisor_notes.c.advisor_id == advisor_shares.c.advisor_id,
            advisor_notes.c.project_id == advisor_shares.c.project_id,
        ),
    )
    .where(_CURRENT_SHARE)
    .order_by(advisor_shares.c.id)
)


def upsert_note(insert: Any) -> Any:
    """Keep an advisor's note on a project: a new one, or the text of theirs replaced (two
    saves at once meet on the primary key: one inserts, one updates). `insert`: the dialect's
    (its ON CONFLICT)."""
    statement = insert(advisor_notes).values(
        advisor_id=bindparam("advisor"),
        project_id=bindparam("project"),
        text=bindparam("text"),
        updated_at=bindparam("now"),
    )
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[advisor_notes.c.advisor_id, advisor_notes.c.project_id],
        set_={"text": new.text, "updated_at": new.updated_at},
    )


class AdvisorStorage:
    """The advisor methods of `Storage`; see the module docstring."""

    _sql: Any  # Storage's statements of its dialect (upsert_note among them)

    async def _read(self, work: Callable[[Connection], T], *, long: bool = False) -> T:
        raise NotImplementedError  # Storage runs it in a read transaction (long: see Storage._run)

    async def _write(self, work: Callable[[Connection], T], *, long: bool = False) -> T:
        raise NotImplementedError  # Storage runs it in a write transaction

    # Advisors

    async def add_advisor(
        self, name: str, *, code: str, lang: str, admin: bool, now: datetime
    ) -> Advisor | None:
        """Create an advisor; None when the name (or, rarely, the code) is taken."""
        check_aware(now)

        def work(conn: Connection) -> Advisor | None:
            taken = select(advisors.c.id).where(
                (advisors.c.name == name) | (advisors.c.code == code)
            )
            if conn.execute(taken).first() is not None:
                return None
            row = conn.execute(
                advisors.insert()
                .values(name=name, code=code, lang=lang, admin=admin, created_at=now)
                .returning(*advisors.c)
            ).one()
            return _advisor(row)

        return await self._write(work)

    async def advisor_named(self, name: str) -> Advisor | None:
        return await self._read(_first_advisor(advisors.c.name == name))

    async def advisor_with_id(self, advisor_id: int) -> Advisor | None:
        return await self._read(_first_advisor(advisors.c.id == advisor_id))

    async def advisor_with_code(self, code: str) -> Advisor | None:
        return await self._read(_first_advisor(advisors.c.code == code))

    async def list_advisors(self) -> list[Advisor]:
        def work(conn: Connection) -> list[Advisor]:
            rows = conn.execute(select(advisors).order_by(advisors.c.name))
            return [_advisor(row) for row in rows]

        return await self._read(work)

    async def remove_advisor(self, name: str) -> bool:
        """Remove an advisor with their links, sessions, shares and notes; False if unknown."""

        def work(conn: Connection) -> bool:
            return conn.execute(delete(advisors).where(advisors.c.name == name)).rowcount > 0

        return await self._write(work)

    # Login links and sessions

    async def add_login(
        self, advisor_id: int, token_hash: str, *, now: datetime, expires_at: datetime
    ) -> None:
        """Store a new login link; the advisor's earlier links not used yet stop working."""
        check_aware(now)
        check_aware(expires_at)

        def work(conn: Connection) -> None:
            conn.execute(
                delete(advisor_logins).where(
                    advisor_logins.c.advisor_id == advisor_id,
                    advisor_logins.c.used_at.is_(None),
                )
            )
            conn.execute(
                advisor_logins.insert().values(
                    advisor_id=advisor_id,
                    token_hash=token_hash,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

        await self._write(work)

    async def use_login(
        self,
        token_hash: str,
        *,
        now: datetime,
        session_hash: str,
        csrf: str,
        session_expires_at: datetime,
    ) -> AdvisorSession | None:
        """Spend a login link and open a session, in one transaction; None (nothing written)
        when the link is unknown, used already or expired. Expired sessions are pruned."""
        check_aware(now)
        check_aware(session_expires_at)

        def work(conn: Connection) -> AdvisorSession | None:
            live = advisor_logins.c.used_at.is_(None), advisor_logins.c.expires_at > now
            spent = _stamp(
                conn,
                advisor_logins.c.used_at,
                now,
                where=(advisor_logins.c.token_hash == token_hash, *live),
                returning=(advisor_logins.c.advisor_id,),
            )
            if spent is None:
                return None
            conn.execute(delete(advisor_sessions).where(advisor_sessions.c.expires_at <= now))
            conn.execute(
                advisor_sessions.insert().values(
                    advisor_id=spent[0],
                    token_hash=session_hash,
                    csrf=csrf,
                    created_at=now,
                    expires_at=session_expires_at,
                )
            )
            row = conn.execute(select(advisors).where(advisors.c.id == spent[0])).one()
            return AdvisorSession(_advisor(row), csrf, session_expires_at)

        return await self._write(work)

    async def session(self, session_hash: str, *, now: datetime) -> AdvisorSession | None:
        """The session a cookie names, if it has not expired (nor its advisor been removed)."""
        check_aware(now)

        def work(conn: Connection) -> AdvisorSession | None:
            row = conn.execute(
                select(advisors, advisor_sessions.c.csrf, advisor_sessions.c.expires_at)
                .join(advisor_sessions, advisor_sessions.c.advisor_id == advisors.c.id)
                .where(
                    advisor_sessions.c.token_hash == session_hash,
                    advisor_sessions.c.expires_at > now,
                )
            ).first()
            if row is None:
                return None
            return AdvisorSession(_advisor(row), row.csrf, row.expires_at)

        return await self._read(work)

    async def end_session(self, session_hash: str) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                delete(advisor_sessions).where(advisor_sessions.c.token_hash == session_hash)
            )

        await self._write(work)

    # Shares: a manager's consent

    async def share(
        self, *, user_id: int, project_id: int, advisor_id: int, now: datetime
    ) -> tuple[Share, bool] | None:
        """Share one of the user's own projects with an advisor: (the share, True) or, when it
        is shared with them already, (that share, False); None (nothing written) when the
        project is not the user's."""
        check_aware(now)

        def work(conn: Connection) -> tuple[Share, bool] | None:
            owned = conn.execute(
                select(projects.c.id).where(
                    projects.c.id == project_id, projects.c.owner_id == user_id
                )
            ).first()
            if owned is None:
                return None
            current = conn.execute(
                select(advisor_shares).where(
                    advisor_shares.c.advisor_id == advisor_id,
                    advisor_shares.c.project_id == project_id,
                    _CURRENT_SHARE,
                )
            ).first()
            if current is not None:
                return _share(current), False
            row = conn.execute(
                advisor_shares.insert()
                .values(
                    advisor_id=advisor_id,
                    user_id=user_id,
                    project_id=project_id,
                    consented_at=now,
                )
                .returning(*advisor_shares.c)
            ).one()
            return _share(row), True

        return await self._write(work)

    async def user_shares(self, user_id: int) -> list[tuple[Share, Advisor]]:
        """The manager's shares not withdrawn, oldest first, with their advisors."""

        def work(conn: Connection) -> list[tuple[Share, Advisor]]:
            rows = conn.execute(
                select(advisor_shares, advisors)
                .join(advisors, advisors.c.id == advisor_shares.c.advisor_id)
                .where(advisor_shares.c.user_id == user_id, _CURRENT_SHARE)
                .order_by(advisor_shares.c.id)
            )
            width = len(advisor_shares.c)
            return [(_share(row), _advisor(row[width:])) for row in rows]

        return await self._read(work)

    async def share_history(self, user_id: int) -> list[tuple[Share, Advisor]]:
        """Every share the user ever gave, withdrawn ones included, oldest first, with their
        advisors (the data export)."""

        def work(conn: Connection) -> list[tuple[Share, Advisor]]:
            rows = conn.execute(
                select(advisor_shares, advisors)
                .join(advisors, advisors.c.id == advisor_shares.c.advisor_id)
                .where(advisor_shares.c.user_id == user_id)
                .order_by(advisor_shares.c.id)
            )
            width = len(advisor_shares.c)
            return [(_share(row), _advisor(row[width:])) for row in rows]

        return await self._read(work)

    async def withdraw_share(self, share_id: int, *, user_id: int, now: datetime) -> Share | None:
        """End the consent of one of the user's shares; None if it is not theirs or is over."""
        check_aware(now)

        def work(conn: Connection) -> Share | None:
            theirs = advisor_shares.c.id == share_id, advisor_shares.c.user_id == user_id
            row = _stamp(
                conn,
                advisor_shares.c.withdrawn_at,
                now,
                where=(*theirs, _CURRENT_SHARE),
                returning=advisor_shares.c,
            )
            return None if row is None else _share(row)

        return await self._write(work)

    # What an advisor reads

    async def shared_projects(self, advisor_id: int) -> list[SharedProject]:
        """The projects shared with the advisor and not withdrawn, with their answers."""

        def work(conn: Connection) -> list[SharedProject]:
            rows = list(conn.execute(_SHARED.where(advisor_shares.c.advisor_id == advisor_id)))
            return _shared_projects(conn, rows)

        return await self._read(work, long=True)

    async def shared_project(self, advisor_id: int, project_id: int) -> SharedProject | None:
        """One project, if it is shared with the advisor (and not withdrawn)."""

        def work(conn: Connection) -> SharedProject | None:
            rows = list(
                conn.execute(
                    _SHARED.where(
                        advisor_shares.c.advisor_id == advisor_id,
                        advisor_shares.c.project_id == project_id,
                    )
                )
            )
            found = _shared_projects(conn, rows)
            return found[0] if found else None

        return await self._read(work)

    async def set_note(
        self, advisor_id: int, project_id: int, text: str, *, now: datetime
    ) -> bool:
        """Keep the advisor's private note on a project shared with them; False (nothing
        written) when it is not shared with them."""
        check_aware(now)

        def work(conn: Connection) -> bool:
            shared = conn.execute(
                select(advisor_shares.c.id).where(
                    advisor_shares.c.advisor_id == advisor_id,
                    advisor_shares.c.project_id == project_id,
                    _CURRENT_SHARE,
                )
            ).first()
            if shared is None:
                return False
            params = {"advisor": advisor_id, "project": project_id, "text": text, "now": now}
            conn.execute(self._sql.upsert_note, params)
            return True

        return await self._write(work)

    async def project_facts(self, advisor_id: int | None) -> list[ProjectFacts]:
        """What the analytics count: every walk the owners of the projects shared with the
        advisor (not withdrawn) made in them, archived ones included; with None, every walk of
        every user."""

        def work(conn: Connection) -> list[ProjectFacts]:
            query = select(users.c.id, users.c.lang, conversations).join(
                users, users.c.id == conversations.c.user_id
            )
            if advisor_id is not None:
                query = query.join(
                    advisor_shares,
                    and_(
                        advisor_shares.c.project_id == conversations.c.project_id,
                        advisor_shares.c.user_id == conversations.c.user_id,
                        advisor_shares.c.advisor_id == advisor_id,
                        _CURRENT_SHARE,
                    ),
                )
            rows = list(conn.execute(query.order_by(conversations.c.id)))
            ids = [row[2] for row in rows]
            found = _answers_of(conn, ids, every=advisor_id is None)
            return [
                ProjectFacts(row[0], row[1], _conversation(row[2:]), found.get(row[2], {}))
                for row in rows
            ]

        return await self._read(work, long=True)


def _stamp(
    conn: Connection,
    column: Column[datetime],
    now: datetime,
    *,
    where: Sequence[Any],
    returning: Iterable[Any],
) -> Row[Any] | None:
    """Set `column` to now in the row `where` picks, if any (a link spent, a consent withdrawn):
    that row's `returning` columns, else None."""
    statement = update(column.table).where(*where).values({column: now})
    return conn.execute(statement.returning(*returning)).first()


# Rows to records


def _first_advisor(where: Any) -> Callable[[Connection], Advisor | None]:
    def work(conn: Connection) -> Advisor | None:
        row = conn.execute(select(advisors).where(where)).first()
        return None if row is None else _advisor(row)

    return work


def _advisor(row: Sequence[Any]) -> Advisor:
    return Advisor(*row[:_ADVISOR_COLUMNS])


def _share(row: Sequence[Any]) -> Share:
    return Share(*row[: len(advisor_shares.c)])


def _conversation(row: Sequence[Any]) -> Conversation:
    values = list(row[: len(conversations.c)])
    values[3] = json.loads(values[3])
    return Conversation(*values)


def _shared_projects(conn: Connection, rows: Sequence[Any]) -> list[SharedProject]:
    """Records of _SHARED's rows, the walks' answers read in one more query."""
    widths = [len(advisor_shares.c), len(projects.c), len(users.c), len(conversations.c)]
    starts = [sum(widths[:i]) for i in range(len(widths) + 1)]
    parts = []
    for row in rows:
        share, project, user, walk = (row[starts[i] : starts[i + 1]] for i in range(4))
        conversation = _conversation(walk) if walk[0] is not None else None
        parts.append((_share(share), Project(*project), User(*user), conversation, row[-1]))
    partners: dict[int, tuple[int | None, dict[str, JSON] | None]] = {
        project_id: (walk, json.loads(state) if state is not None else None)
        for project_id, walk, state in conn.execute(
            select(project_members.c.project_id, conversations.c.id, conversations.c.state)
            .outerjoin(
                conversations,
                active_walk(project_members.c.user_id, project_members.c.project_id),
            )
            .where(
                project_members.c.role == "partner",
                project_members.c.project_id.in_(sorted({p.id for _, p, _, _, _ in parts})),
            )
        )
    }
    walks = [c.id for _, _, _, c, _ in parts if c is not None]
    theirs = [walk for walk, _ in partners.values() if walk is not None]
    found = _answers_of(conn, walks + theirs)

    def partner_answers(project_id: int) -> dict[str, JSON] | None:
        if project_id not in partners:
            return None
        walk = partners[project_id][0]
        return found.get(walk, {}) if walk is not None else {}

    return [
        SharedProject(
            share=share,
            project=project,
            owner=owner,
            conversation=conversation,
            answers=found.get(conversation.id, {}) if conversation is not None else {},
            note=note or "",
            partner_answers=partner_answers(project.id),
            partner_state=partners.get(project.id, (None, None))[1],
        )
        for share, project, owner, conversation, note in parts
    ]


def _answers_of(
    conn: Connection, conversation_ids: Sequence[int], *, every: bool = False
) -> dict[int, dict[str, JSON]]:
    """conversation id -> its current answers, for many conversations in one query; `every`:
    the ids are every conversation's, so read all current answers (no list of ids to send)."""
    found: dict[int, dict[str, JSON]] = {cid: {} for cid in conversation_ids}
    if not conversation_ids:
        return found
    query = select(answers.c.conversation_id, answers.c.question_id, answers.c.value).where(
        answers.c.superseded_at.is_(None)
    )
    if not every:
        query = query.where(answers.c.conversation_id.in_(sorted(set(conversation_ids))))
    for conversation_id, question_id, value in conn.execute(query.order_by(answers.c.id)):
        if conversation_id in found:  # a conversation begun since the list was read
            found[conversation_id][question_id] = json.loads(value)
    return found
