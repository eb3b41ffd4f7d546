"""Storage of alliance projects, invitations and comments on gaps, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from bot.storage.base import AnswerWrite, CancelReminders, NewReminder, hash_token

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
LATER = NOW + timedelta(days=14)


async def manager(storage, key="tg:1"):
    user = await storage.get_or_create_user(key, lang="fr", tz="Europe/Paris")
    walk = await storage.start_conversation(user.id, "alliance", {"at": "q1"})
    return user, walk


async def invite(storage, user, project_id, expires_at=LATER):
    token = secrets.token_urlsafe(16)
    invitation = await storage.create_invitation(
        project_id, user_id=user.id, token_hash=hash_token(token), expires_at=expires_at
    )
    return token, invitation


async def test_a_first_walk_starts_the_first_project(storage):
    user, walk = await manager(storage)
    [view] = await storage.user_projects(user.id)
    assert view.project.id == walk.project_id
    assert view.project.owner_id == user.id
    assert view.project.title is None
    assert (view.role, view.current, view.conversation) == ("owner", True, walk)
    snapshot = await storage.load(user.key)
    assert snapshot.project == view.project
    assert snapshot.conversation == walk
    # /restart: a new walk in the same project, the old one archived.
    again = await storage.start_conversation(user.id, "alliance", {})
    assert again.project_id == walk.project_id
    assert [c.active for c in await storage.conversations(user.id)] == [False, True]


async def test_several_projects_each_with_its_walk_answers_and_reminders(storage):
    user, first_walk = await manager(storage)
    await storage.save_step(
        first_walk.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "one")]
    )
    second, second_walk = await storage.new_project(
        user.id, title="  Beta SA ", dialogue_id="alliance", state={"at": "q1"}, update_id=10
    )
    assert second.title == "Beta SA"
    snapshot = await storage.load(user.key, 10)
    assert snapshot.processed
    assert (snapshot.project, snapshot.conversation, snapshot.answers) == (
        second,
        second_walk,
        {},
    )
    await storage.save_step(
        second_walk.id,
        expected_version=1,
        state={},
        answers=[AnswerWrite("q1", "two")],
        reminders=[NewReminder("todo", "q2", LATER)],
    )
    await storage.save_step(
        first_walk.id,
        expected_version=2,
        state={},
        reminders=[NewReminder("todo", "q2", LATER)],
    )
    pending = await storage.pending_reminders(user.id)
    assert sorted(r.project_id for r in pending) == sorted([first_walk.project_id, second.id])
    # A step cancels the reminders of its own project only.
    await storage.save_step(
        second_walk.id, expected_version=2, state={}, reminders=[CancelReminders(("todo",))]
    )
    assert [r.project_id for r in await storage.pending_reminders(user.id)] == [
        first_walk.project_id
    ]

    views = await storage.user_projects(user.id)
    assert [(v.project.title, v.answers, v.current) for v in views] == [
        (None, {"q1": "one"}, False),
        ("Beta SA", {"q1": "two"}, True),
    ]
    switched = await storage.switch_project(user.id, first_walk.project_id, update_id=11)
    assert switched.id == first_walk.project_id
    snapshot = await storage.load(user.key, 11)
    assert snapshot.processed
    assert snapshot.answers == {"q1": "one"}
    assert await storage.rename_project(user.id, first_walk.project_id, "Alpha")
    assert (await storage.load(user.key)).project.title == "Alpha"


async def test_a_user_reaches_only_their_own_projects(storage):
    ana, ana_walk = await manager(storage, "tg:1")
    _bob, bob_walk = await manager(storage, "tg:2")
    theirs = bob_walk.project_id
    assert await storage.project(theirs, user_id=ana.id) is None
    assert await storage.switch_project(ana.id, theirs) is None
    assert not await storage.rename_project(ana.id, theirs, "Mine")
    assert not await storage.delete_project(ana.id, theirs)
    assert (
        await storage.create_invitation(theirs, user_id=ana.id, token_hash="h", expires_at=LATER)
        is None
    )
    assert await storage.invitations(theirs, user_id=ana.id) == []
    assert await storage.revoke_invitations(theirs, user_id=ana.id) == 0
    assert await storage.set_gap_comment(theirs, user_id=ana.id, dimension="d", body="b") is None
    assert (await storage.load(ana.key)).project.id == ana_walk.project_id
    assert [v.project.id for v in await storage.user_projects(ana.id)] == [ana_walk.project_id]


async def test_deleting_a_project_erases_it_and_moves_the_current_one(storage):
    user, first_walk = await manager(storage)
    second, second_walk = await storage.new_project(
        user.id, title="B", dialogue_id="alliance", state={}
    )
    await storage.save_step(second_walk.id, expected_version=1, state={}, answers=[])
    await storage.add_reminder(user.id, kind="todo", ref="q", due_at=LATER)  # current: second
    await storage.set_gap_comment(second.id, user_id=user.id, dimension="trust", body="note")
    await invite(storage, user, second.id)
    assert await storage.delete_project(user.id, second.id)
    assert await storage.project(second.id, user_id=user.id) is None
    assert await storage.pending_reminders(user.id) == []
    assert await storage.gap_comments(second.id) == []
    assert [c.id for c in await storage.conversations(user.id)] == [first_walk.id]
    assert (await storage.get_user(user.key)).current_project_id == first_walk.project_id
    assert await storage.delete_project(user.id, first_walk.project_id)
    assert (await storage.get_user(user.key)).current_project_id is None
    assert (await storage.load(user.key)).project is None
    # The next walk starts a project of its own.
    walk = await storage.start_conversation(user.id, "alliance", {})
    assert walk.project_id not in (first_walk.project_id, second.id)


async def test_the_partner_joins_with_a_valid_invitation_once(storage):
    ana, ana_walk = await manager(storage, "tg:1")
    project_id = ana_walk.project_id
    token, invitation = await invite(storage, ana, project_id)
    assert invitation.token_hash == hash_token(token) != token
    assert invitation.is_open(NOW)
    assert await storage.find_invitation(hash_token(token)) == invitation
    bob = await storage.get_or_create_user("tg:2", lang="en", tz="UTC")
    # Bob also runs a project of his own.
    bob_walk = await storage.start_conversation(bob.id, "alliance", {})

    joined = await storage.accept_invitation(
        hash_token(token), user_id=bob.id, now=NOW, dialogue_id="partner", state={"at": "v"}
    )
    assert joined.status == "ok"
    assert joined.project.id == project_id
    assert joined.invitation.used_by == bob.id
    assert joined.invitation.used_at is not None
    assert joined.conversation.dialogue_id == "partner"
    snapshot = await storage.load(bob.key)
    assert snapshot.role == "partner"
    assert snapshot.project.id == project_id
    assert snapshot.conversation == joined.conversation
    roles = [(v.project.id, v.role) for v in await storage.user_projects(bob.id)]
    assert roles == [(project_id, "partner"), (bob_walk.project_id, "owner")]
    # Each side's answers stay in their own walk.
    await storage.save_step(
        joined.conversation.id, expected_version=1, state={}, answers=[AnswerWrite("v", 2)]
    )
    sides = await storage.project_sides(project_id)
    assert [(s.member.role, s.user.id, s.answers) for s in sides] == [
        ("owner", ana.id, {}),
        ("partner", bob.id, {"v": 2}),
    ]
    # The owner's view and list are unchanged.
    assert (await storage.load(ana.key)).conversation == ana_walk

    # Used: no second use, by anyone.
    eve = await storage.get_or_create_user("tg:3", lang="fr", tz="UTC")
    for who in (bob, eve):
        again = await storage.accept_invitation(
            hash_token(token), user_id=who.id, now=NOW, dialogue_id="partner", state={}
        )
        assert again.status == "used"
        assert again.project is None
    # A new link for a project that has its partner.
    second, _ = await invite(storage, ana, project_id)
    taken = await storage.accept_invitation(
        hash_token(second), user_id=eve.id, now=NOW, dialogue_id="partner", state={}
    )
    assert taken.status == "taken"
    assert await storage.user_projects(eve.id) == []


async def test_invitations_unknown_expired_revoked_own_or_declined(storage):
    ana, walk = await manager(storage, "tg:1")
    bob = await storage.get_or_create_user("tg:2", lang="en", tz="UTC")

    async def accept(token, who=bob, now=NOW):
        return await storage.accept_invitation(
            hash_token(token), user_id=who.id, now=now, dialogue_id="partner", state={}
        )

    assert (await accept("guessed")).status == "unknown"
    token, _ = await invite(storage, ana, walk.project_id, expires_at=NOW)
    assert (await accept(token)).status == "expired"  # expires_at is the first moment it fails
    assert (await accept(token, now=NOW - timedelta(microseconds=1))).status == "ok"

    ana2, walk2 = await manager(storage, "tg:4")
    first, _ = await invite(storage, ana2, walk2.project_id)
    second, _ = await invite(storage, ana2, walk2.project_id)  # revokes the first
    assert (await accept(first)).status == "revoked"
    assert (await accept(second, who=ana2)).status == "own"
    assert await storage.revoke_invitations(walk2.project_id, user_id=ana2.id) == 1
    assert (await accept(second)).status == "revoked"
    listed = await storage.invitations(walk2.project_id, user_id=ana2.id)
    assert [i.revoked_at is not None for i in listed] == [True, True]

    third, _ = await invite(storage, ana2, walk2.project_id)
    declined = await storage.decline_invitation(hash_token(third), user_id=bob.id, now=NOW)
    assert declined.status == "ok"
    assert declined.invitation.declined_at is not None
    assert (await accept(third)).status == "used"
    assert [s.member.role for s in await storage.project_sides(walk2.project_id)] == ["owner"]


async def test_the_partner_leaves_a_project_and_may_be_invited_again(storage):
    ana, walk = await manager(storage, "tg:1")
    bob = await storage.get_or_create_user("tg:2", lang="en", tz="UTC")
    token, _ = await invite(storage, ana, walk.project_id)
    joined = await storage.accept_invitation(
        hash_token(token), user_id=bob.id, now=NOW, dialogue_id="partner", state={}
    )
    await storage.save_step(
        joined.conversation.id, expected_version=1, state={}, answers=[AnswerWrite("v", 1)]
    )
    await storage.set_gap_comment(walk.project_id, user_id=bob.id, dimension="v", body="hm")
    await storage.set_gap_comment(walk.project_id, user_id=ana.id, dimension="v", body="ok")
    assert not await storage.leave_project(ana.id, walk.project_id)  # the owner deletes instead
    assert await storage.leave_project(bob.id, walk.project_id)
    assert await storage.conversations(bob.id) == []
    assert (await storage.get_user(bob.key)).current_project_id is None
    assert [c.body for c in await storage.gap_comments(walk.project_id)] == ["ok"]
    left = await storage.project(walk.project_id, user_id=ana.id)
    assert left.partner_left_at is not None
    assert await storage.project(walk.project_id, user_id=bob.id) is None
    # Invited again, by a new link: the project no longer shows the departure.
    token, _ = await invite(storage, ana, walk.project_id)
    again = await storage.accept_invitation(
        hash_token(token), user_id=bob.id, now=NOW, dialogue_id="partner", state={}
    )
    assert again.status == "ok"
    assert (await storage.project(walk.project_id, user_id=ana.id)).partner_left_at is None


async def test_a_comment_per_side_and_gap_replaced_when_written_again(storage):
    ana, walk = await manager(storage, "tg:1")
    first = await storage.set_gap_comment(
        walk.project_id, user_id=ana.id, dimension="trust", body=" Let us talk. "
    )
    assert first.body == "Let us talk."
    second = await storage.set_gap_comment(
        walk.project_id, user_id=ana.id, dimension="trust", body="Agreed « now »"
    )
    assert second.id == first.id
    assert second.created_at == first.created_at
    await storage.set_gap_comment(walk.project_id, user_id=ana.id, dimension="risks", body="r")
    comments = await storage.gap_comments(walk.project_id)
    assert [(c.dimension, c.body) for c in comments] == [
        ("trust", "Agreed « now »"),
        ("risks", "r"),
    ]
