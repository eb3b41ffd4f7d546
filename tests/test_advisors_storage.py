"""Advisors in storage, on SQLite and PostgreSQL: login links spent once, sessions that expire,
shares by consent (withdrawn ones kept as a record, never read), private notes, analytics rows."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.advisors import tokens
from bot.advisors.service import AdvisorError, Advisors
from bot.storage.base import AnswerWrite

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


async def _manager(storage, key: str, answers: dict[str, object] | None = None):
    user = await storage.get_or_create_user(key, lang="fr", tz="Europe/Paris")
    conversation = await storage.start_conversation(user.id, "alliance", {"at": "company"})
    writes = [AnswerWrite(q, v) for q, v in (answers or {}).items()]
    await storage.save_step(
        conversation.id, expected_version=conversation.version, state={}, answers=writes
    )
    return user, conversation


async def test_a_login_link_opens_one_session_once(storage, storage_backend):
    clock = Clock()
    advisors = Advisors(storage, clock=clock)
    advisor, token = await advisors.add("Claire", lang="fr")
    assert len(token) >= 43  # 256 bits, URL-safe
    signed_in = await advisors.sign_in(token)
    assert signed_in is not None
    assert signed_in.session.advisor == advisor
    assert await advisors.sign_in(token) is None  # spent
    session = await advisors.session(signed_in.cookie)
    assert session is not None
    assert session.csrf == signed_in.session.csrf
    # Only hashes are stored: neither the link's token nor the cookie is in the database.
    stored = repr(
        storage_backend.rows("advisor_logins") + storage_backend.rows("advisor_sessions")
    )
    assert token not in stored
    assert signed_in.cookie not in stored
    assert tokens.digest(token) in stored


async def test_links_and_sessions_expire(storage):
    clock = Clock()
    advisors = Advisors(
        storage, clock=clock, login_ttl=dt.timedelta(hours=1), session_ttl=dt.timedelta(hours=2)
    )
    _, token = await advisors.add("Claire")
    clock.now = T0 + dt.timedelta(hours=1, seconds=1)
    assert await advisors.sign_in(token) is None
    _, token = await advisors.link("Claire")
    signed_in = await advisors.sign_in(token)
    assert signed_in is not None
    clock.now += dt.timedelta(hours=2)
    assert await advisors.session(signed_in.cookie) is None


async def test_a_new_link_replaces_the_unused_one_and_removal_ends_everything(storage):
    advisors = Advisors(storage, clock=Clock())
    _, first = await advisors.add("Claire")
    _, second = await advisors.link("Claire")
    assert await advisors.sign_in(first) is None
    signed_in = await advisors.sign_in(second)
    assert signed_in is not None
    await advisors.remove("Claire")
    assert await advisors.session(signed_in.cookie) is None
    assert await storage.list_advisors() == []


async def test_names_are_unique(storage):
    advisors = Advisors(storage, clock=Clock())
    await advisors.add("Claire")
    with pytest.raises(AdvisorError, match="exists already"):
        await advisors.add("Claire")


async def test_shares_by_code_withdrawal_and_isolation(storage):
    clock = Clock()
    advisors = Advisors(storage, clock=clock)
    claire, _ = await advisors.add("Claire")
    marc, _ = await advisors.add("Marc")
    ana, ana_project = await _manager(storage, "tg:1", {"company": "Acme"})
    _, ben_project = await _manager(storage, "tg:2", {"company": "Bolt"})
    typed = claire.code.lower()[:4] + "-" + claire.code.lower()[4:]
    shared = await advisors.share(
        user_id=ana.id, project_id=ana_project.project_id, typed_code=typed
    )
    assert shared == (claire, True)
    again = await advisors.share(
        user_id=ana.id, project_id=ana_project.project_id, typed_code=claire.code
    )
    assert again == (claire, False)
    assert await advisors.share(user_id=ana.id, project_id=1, typed_code="NOPE") is None

    # Only the project's owner shares it.
    other, _ = await _manager(storage, "tg:9")
    assert (
        await storage.share(
            user_id=other.id, project_id=ana_project.project_id, advisor_id=marc.id, now=clock()
        )
        is None
    )
    with pytest.raises(AdvisorError, match="owner"):
        await advisors.share(
            user_id=other.id, project_id=ana_project.project_id, typed_code=marc.code
        )

    projects = await storage.shared_projects(claire.id)
    assert [p.project.id for p in projects] == [ana_project.project_id]
    assert projects[0].answers == {"company": "Acme"}
    assert await storage.shared_projects(marc.id) == []
    assert await storage.shared_project(marc.id, ana_project.project_id) is None
    assert await storage.shared_project(claire.id, ben_project.project_id) is None

    assert await storage.set_note(claire.id, ana_project.project_id, "call Tuesday", now=clock())
    assert not await storage.set_note(marc.id, ana_project.project_id, "not mine", now=clock())
    assert await storage.set_note(claire.id, ana_project.project_id, "call Wednesday", now=clock())
    project = await storage.shared_project(claire.id, ana_project.project_id)
    assert project is not None
    assert project.note == "call Wednesday"

    [(share, advisor)] = await advisors.shares(ana.id)
    assert advisor == claire
    other_user = (await _manager(storage, "tg:3"))[0]
    assert await advisors.withdraw(user_id=other_user.id, share_id=share.id) is None
    clock.now += dt.timedelta(days=1)
    withdrawn = await advisors.withdraw(user_id=ana.id, share_id=share.id)
    assert withdrawn is not None
    assert withdrawn[0].withdrawn_at == clock.now
    assert withdrawn[1] == claire
    assert await storage.shared_projects(claire.id) == []
    assert not await storage.set_note(claire.id, ana_project.project_id, "after", now=clock())
    assert await advisors.shares(ana.id) == []
    # Shared again later: a new consent, the note kept for the advisor.
    again = await advisors.share(
        user_id=ana.id, project_id=ana_project.project_id, typed_code=claire.code
    )
    assert again == (claire, True)
    project = await storage.shared_project(claire.id, ana_project.project_id)
    assert project is not None
    assert project.note == "call Wednesday"


async def test_a_manager_who_erases_their_data_disappears_from_every_advisor(storage):
    advisors = Advisors(storage, clock=Clock())
    claire, _ = await advisors.add("Claire")
    ana, project = await _manager(storage, "tg:1", {"company": "Acme"})
    await advisors.share(user_id=ana.id, project_id=project.project_id, typed_code=claire.code)
    await storage.set_note(claire.id, project.project_id, "note", now=T0)
    await storage.delete_user(ana.id)
    assert await storage.shared_projects(claire.id) == []
    assert await storage.project_facts(None) == []


async def test_project_facts_cover_the_advisors_projects_or_everyone(storage):
    advisors = Advisors(storage, clock=Clock())
    claire, _ = await advisors.add("Claire")
    ana, ana_project = await _manager(storage, "tg:1", {"company": "Acme"})
    await _manager(storage, "tg:2", {"company": "Bolt"})
    await advisors.share(user_id=ana.id, project_id=ana_project.project_id, typed_code=claire.code)
    mine = await storage.project_facts(claire.id)
    assert [(f.user_id, f.answers) for f in mine] == [(ana.id, {"company": "Acme"})]
    everyone = await storage.project_facts(None)
    assert sorted(f.answers["company"] for f in everyone) == ["Acme", "Bolt"]


async def test_a_deleted_project_leaves_every_advisor(storage):
    advisors = Advisors(storage, clock=Clock())
    claire, _ = await advisors.add("Claire")
    ana, project = await _manager(storage, "tg:1", {"company": "Acme"})
    await advisors.share(user_id=ana.id, project_id=project.project_id, typed_code=claire.code)
    await storage.set_note(claire.id, project.project_id, "note", now=T0)
    assert await storage.delete_project(ana.id, project.project_id)
    assert await storage.shared_projects(claire.id) == []
    assert await storage.share_history(ana.id) == []
    assert await storage.project_facts(claire.id) == []
