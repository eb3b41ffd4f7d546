"""The reminder half of the storage contract, on every backend (see the `storage` fixture).

Times given to the dispatcher's methods (`now`, `due_at`) are fixed instants in 2030, far from
the real clock, which only stamps created_at, updated_at and sent_at.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from bot.errors import DuplicateUpdate, StorageError
from bot.reminders import Kind
from bot.reminders.schedule import preparation_plan
from bot.storage.base import (
    CancelReminders,
    ChangeReminder,
    NewReminder,
    Reminder,
)
from tests.storage_fixtures import PG_URL, add_user

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def make_user(storage, key="tg:1", tz="Europe/Paris"):
    return await add_user(storage, key, lang="fr", tz=tz)


async def add(storage, user, ref="q1", *, kind="todo", at=T0, **extra):
    return await storage.add_reminder(user.id, kind=kind, ref=ref, due_at=at, **extra)


def is_utc(moment):
    return moment is not None and moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# Scheduling


async def test_add_reminder_returns_a_pending_reminder(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    paris = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    payload = {"text_key": "next_steps.fill_grid", "due": "2030-03-04", "n": [1, None, "é"]}
    reminder = await storage.add_reminder(
        user.id,
        kind="next_step",
        ref="fill_grid",
        due_at=paris,
        payload=payload,
        conversation_id=conversation.id,
    )
    assert isinstance(reminder, Reminder)
    assert (reminder.user_id, reminder.conversation_id) == (user.id, conversation.id)
    assert (reminder.kind, reminder.ref, reminder.payload) == ("next_step", "fill_grid", payload)
    assert reminder.due_at == paris
    assert reminder.due_at.tzinfo is UTC
    assert (reminder.status, reminder.attempts) == ("pending", 0)
    assert (reminder.claimed_by, reminder.claimed_until, reminder.sent_at) == (None, None, None)
    assert is_utc(reminder.created_at)
    assert reminder.updated_at == reminder.created_at
    assert await storage.get_reminder(reminder.id, user_id=user.id) == reminder
    assert await storage.pending_reminders(user.id) == [reminder]


async def test_payload_defaults_to_an_empty_dict(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    assert reminder.payload == {}
    assert reminder.conversation_id is None


async def test_adding_the_same_kind_and_ref_moves_the_pending_reminder(storage):
    user = await make_user(storage)
    first = await add(storage, user, payload={"v": 1})
    moved = await add(storage, user, at=T0 + timedelta(days=2), payload={"v": 2})
    assert moved.id == first.id
    assert moved.due_at == T0 + timedelta(days=2)
    assert moved.payload == {"v": 2}
    assert moved.created_at == first.created_at
    assert await storage.pending_reminders(user.id) == [moved]
    # Another ref, another kind, another user: other reminders.
    other_ref = await add(storage, user, "q2")
    other_kind = await add(storage, user, kind="nudge")
    bob = await make_user(storage, "tg:2")
    bobs = await add(storage, bob)
    assert len({first.id, other_ref.id, other_kind.id, bobs.id}) == 4
    assert len(await storage.pending_reminders(user.id)) == 3
    assert await storage.pending_reminders(bob.id) == [bobs]


async def test_re_adding_with_the_same_due_keeps_the_claim(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    [claimed] = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    again = await add(storage, user, payload={"more": True})
    assert (again.id, again.claimed_by, again.claimed_until) == (
        reminder.id,
        "w1",
        claimed.claimed_until,
    )
    assert await storage.claim_due(T0, worker="w2", lease=LEASE, limit=10) == []
    assert await storage.mark_sent(reminder.id, worker="w1")


async def test_moving_a_claimed_reminder_releases_the_claim(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    assert await storage.retry_later(reminder.id, worker="w1", due_at=T0)
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    moved = await add(storage, user, at=T0 + timedelta(days=1))
    assert (moved.claimed_by, moved.claimed_until, moved.attempts) == (None, None, 0)
    assert not await storage.mark_sent(reminder.id, worker="w1")  # the move won
    assert (await storage.get_reminder(reminder.id, user_id=user.id)).status == "pending"


async def test_adding_again_after_sending_schedules_a_new_one(storage):
    user = await make_user(storage)
    sent = await add(storage, user)
    await storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert await storage.mark_sent(sent.id, worker="w")
    again = await add(storage, user, at=T0 + timedelta(days=7))
    assert again.id != sent.id
    assert (await storage.get_reminder(sent.id, user_id=user.id)).status == "sent"
    assert await storage.pending_reminders(user.id) == [again]


async def test_add_reminder_rejects_bad_arguments_and_writes_nothing(storage):
    alice = await make_user(storage)
    bob = await make_user(storage, "tg:2")
    bobs_conversation = await storage.start_conversation(bob.id, "alliance", {})
    with pytest.raises(ValueError, match="naive"):
        await add(storage, alice, at=datetime(2030, 1, 1))  # naive on purpose
    with pytest.raises(TypeError):
        await add(storage, alice, payload={"bad": object()})
    with pytest.raises(ValueError, match="non-empty"):
        await add(storage, alice, "")
    with pytest.raises(StorageError):
        await storage.add_reminder(404, kind="todo", ref="q1", due_at=T0)
    with pytest.raises(StorageError):  # someone else's conversation
        await add(storage, alice, conversation_id=bobs_conversation.id)
    with pytest.raises(StorageError):
        await add(storage, alice, conversation_id=404)
    assert await storage.pending_reminders(alice.id) == []
    assert await storage.all_pending() == []


async def test_a_plan_scheduled_twice_is_moved_not_duplicated(storage):
    """The way the bot schedules: add every planned item; a new plan moves the old one."""
    user = await make_user(storage, tz="Europe/Paris")
    conversation = await storage.start_conversation(user.id, "alliance", {})

    async def schedule(first):
        for item in preparation_plan(first, 4, 3, user.tz, 9):
            await storage.add_reminder(
                user.id,
                kind=item.kind,  # a Kind: stored as its plain string
                ref=item.ref,
                due_at=item.due_at,
                conversation_id=conversation.id,
            )

    await schedule(date(2030, 1, 10))
    first = await storage.pending_reminders(user.id)
    await schedule(date(2030, 1, 17))  # the first session moved a week later
    moved = await storage.pending_reminders(user.id)
    assert [r.id for r in moved] == [r.id for r in first]
    assert [r.due_at - f.due_at for r, f in zip(moved, first, strict=True)] == [
        timedelta(days=7)
    ] * 5
    assert [(r.kind, r.ref) for r in moved][-1] == ("go_no_go", "preparation")
    assert type(moved[0].kind) is str
    assert moved[0].kind == Kind.PREP_EVE
    assert await storage.cancel_reminders(user.id, kinds=[Kind.PREP_EVE]) == 4


# Reading


async def test_pending_reminders_are_in_due_order(storage):
    user = await make_user(storage)
    late = await add(storage, user, "late", at=T0 + timedelta(days=3))
    tie_a = await add(storage, user, "tie-a", at=T0 + timedelta(days=1))
    soon = await add(storage, user, "soon", at=T0)
    tie_b = await add(storage, user, "tie-b", at=T0 + timedelta(days=1))
    closed = await add(storage, user, "closed", at=T0 - timedelta(days=1))
    await storage.set_reminder_status(closed.id, user_id=user.id, status="done")
    assert [r.id for r in await storage.pending_reminders(user.id)] == [
        soon.id,
        tie_a.id,
        tie_b.id,
        late.id,
    ]


async def test_all_pending_lists_every_user_with_a_limit(storage):
    alice = await make_user(storage, "tg:1", tz="Europe/Paris")
    bob = await make_user(storage, "tg:2", tz="Asia/Tokyo")
    bob = await storage.update_user(bob.id, blocked_at=T0)  # still listed for operators
    a2 = await add(storage, alice, "a2", at=T0 + timedelta(hours=2))
    b1 = await add(storage, bob, "b1", at=T0 + timedelta(hours=1))
    a1 = await add(storage, alice, "a1", at=T0)
    done = await add(storage, bob, "done", at=T0)
    await storage.set_reminder_status(done.id, user_id=bob.id, status="done")
    assert await storage.all_pending() == [(a1, alice), (b1, bob), (a2, alice)]
    assert await storage.all_pending(limit=2) == [(a1, alice), (b1, bob)]
    with pytest.raises(ValueError, match="limit"):
        await storage.all_pending(limit=0)


# One user can never reach another's reminders


async def test_user_b_cannot_read_or_change_user_a_reminders(storage):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    mine = await add(storage, alice, payload={"secret": "alice"})
    assert await storage.get_reminder(mine.id, user_id=bob.id) is None
    assert await storage.reschedule(mine.id, user_id=bob.id, due_at=T0 + timedelta(days=9)) is None
    assert await storage.set_reminder_status(mine.id, user_id=bob.id, status="cancelled") is None
    assert await storage.set_reminder_status(mine.id, user_id=bob.id, status="done") is None
    assert await storage.cancel_reminders(bob.id) == 0
    assert await storage.get_reminder(mine.id, user_id=alice.id) == mine
    assert await storage.pending_reminders(bob.id) == []
    assert await storage.get_reminder(404, user_id=alice.id) is None


# The user's own changes


async def test_reschedule_moves_a_pending_reminder(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    later = datetime(2030, 3, 10, 9, 0, tzinfo=ZoneInfo("America/Montreal"))
    moved = await storage.reschedule(reminder.id, user_id=user.id, due_at=later)
    assert (moved.id, moved.status, moved.due_at) == (reminder.id, "pending", later)
    assert moved.due_at.tzinfo is UTC
    assert await storage.claim_due(T0, worker="w", lease=LEASE, limit=10) == []
    with pytest.raises(ValueError, match="naive"):
        await storage.reschedule(reminder.id, user_id=user.id, due_at=datetime(2030, 1, 1))


async def test_snoozing_a_sent_reminder_makes_it_pending_again(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    await storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert await storage.retry_later(reminder.id, worker="w", due_at=T0)
    await storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert await storage.mark_sent(reminder.id, worker="w")
    twin = await add(storage, user, at=T0 + timedelta(days=30))  # e.g. the plan scheduled it again
    snoozed = await storage.reschedule(reminder.id, user_id=user.id, due_at=T0 + timedelta(days=3))
    assert (snoozed.status, snoozed.attempts, snoozed.claimed_by) == ("pending", 0, None)
    assert snoozed.sent_at is not None  # when it was last sent
    # The snoozed one replaces its pending twin: still one pending per kind and ref.
    assert (await storage.get_reminder(twin.id, user_id=user.id)).status == "cancelled"
    assert await storage.pending_reminders(user.id) == [snoozed]


async def test_closing_a_reminder(storage):
    user = await make_user(storage)
    pending = await add(storage, user, "a")
    sent = await add(storage, user, "b")
    await storage.claim_due(T0, worker="w", lease=LEASE, limit=10)
    assert await storage.mark_sent(sent.id, worker="w")
    cancelled = await storage.set_reminder_status(pending.id, user_id=user.id, status="cancelled")
    assert (cancelled.status, cancelled.claimed_by, cancelled.claimed_until) == (
        "cancelled",
        None,
        None,
    )
    assert not await storage.mark_sent(pending.id, worker="w")  # the user's cancel won
    done = await storage.set_reminder_status(sent.id, user_id=user.id, status="done")
    assert done.status == "done"
    # Closed is final: neither closing again nor a snooze changes it.
    assert await storage.set_reminder_status(sent.id, user_id=user.id, status="cancelled") == done
    assert (
        await storage.reschedule(sent.id, user_id=user.id, due_at=T0 + timedelta(days=1)) == done
    )
    assert (
        await storage.set_reminder_status(pending.id, user_id=user.id, status="done") == cancelled
    )
    with pytest.raises(ValueError, match="done"):
        await storage.set_reminder_status(pending.id, user_id=user.id, status="sent")
    assert await storage.pending_reminders(user.id) == []


async def test_cancel_reminders_by_kind(storage):
    user = await make_user(storage)
    bob = await make_user(storage, "tg:2")
    await add(storage, user, "n1", kind="nudge")
    await add(storage, user, "n2", kind="nudge")
    review = await add(storage, user, "review-1", kind="review")
    todo = await add(storage, user, "q1", kind="todo")
    bobs = await add(storage, bob, "n1", kind="nudge")
    sent = await add(storage, user, "q2", kind="todo", at=T0 - timedelta(days=1))
    await storage.claim_due(T0 - timedelta(days=1), worker="w", lease=LEASE, limit=1)
    assert await storage.mark_sent(sent.id, worker="w")

    assert await storage.cancel_reminders(user.id, kinds=["nudge"]) == 2
    assert await storage.cancel_reminders(user.id, kinds=["nudge"]) == 0
    assert await storage.cancel_reminders(user.id, kinds=[]) == 0
    assert [r.id for r in await storage.pending_reminders(user.id)] == [review.id, todo.id]
    with pytest.raises(TypeError):
        await storage.cancel_reminders(user.id, kinds="todo")
    assert await storage.cancel_reminders(user.id) == 2
    assert await storage.pending_reminders(user.id) == []
    assert (await storage.get_reminder(sent.id, user_id=user.id)).status == "sent"  # history stays
    assert await storage.pending_reminders(bob.id) == [bobs]


# The dispatcher


async def test_claim_due_takes_due_reminders_soonest_first(storage):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    later = await add(storage, alice, "later", at=T0 - timedelta(minutes=1))
    first = await add(storage, alice, "first", at=T0 - timedelta(days=2))
    exactly = await add(storage, bob, "exactly", at=T0)
    await add(storage, alice, "future", at=T0 + timedelta(seconds=1))
    claimed = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=2)
    assert [r.id for r in claimed] == [first.id, later.id]
    for reminder in claimed:
        assert (reminder.claimed_by, reminder.claimed_until) == ("w1", T0 + LEASE)
        assert reminder.claimed_until.tzinfo is UTC
        assert reminder.status == "pending"
        assert await storage.get_reminder(reminder.id, user_id=alice.id) == reminder
    assert [r.id for r in await storage.claim_due(T0, worker="w1", lease=LEASE, limit=5)] == [
        exactly.id
    ]
    assert await storage.claim_due(T0, worker="w1", lease=LEASE, limit=5) == []


async def test_a_users_due_reminders_all_go_to_one_worker(storage):
    alice, bob, carol = [await make_user(storage, f"tg:{n}") for n in range(3)]
    # Due times interleave across users; users come in the order of their soonest reminder.
    alices = [await add(storage, alice, f"a{n}", at=T0 - timedelta(days=3 - n)) for n in range(3)]
    bobs = [
        await add(storage, bob, f"b{n}", at=T0 - timedelta(days=2, hours=12 - n)) for n in range(2)
    ]
    carols = [await add(storage, carol, "c0", at=T0 - timedelta(hours=1))]
    await add(storage, alice, "future", at=T0 + timedelta(minutes=1))

    def ids(batch):
        return [r.id for r in batch]

    # limit 2: alice comes first and is taken whole (3), not split across workers.
    first = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=2)
    assert ids(first) == [r.id for r in alices]
    assert ids(await storage.claim_due(T0, worker="w2", lease=LEASE, limit=2)) == [
        r.id for r in bobs
    ]
    assert ids(await storage.claim_due(T0, worker="w3", lease=LEASE, limit=2)) == [
        r.id for r in carols
    ]
    assert await storage.claim_due(T0, worker="w4", lease=LEASE, limit=9) == []


async def test_claim_due_takes_whole_users_up_to_about_limit(storage):
    """limit is a target: whole users until it is reached, never more than twice it."""
    users = [await make_user(storage, f"tg:{n}") for n in range(4)]
    for n, user in enumerate(users):  # 3 reminders each; user 0 the soonest
        for i in range(3):
            await add(storage, user, f"q{i}", at=T0 - timedelta(hours=10 - n, minutes=i))
    batch = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert len(batch) == 6  # two whole users: 3 is below 4, and 6 is within 8
    assert {r.user_id for r in batch} == {users[0].id, users[1].id}
    assert [(r.due_at, r.id) for r in batch] == sorted((r.due_at, r.id) for r in batch)
    batch = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=3)
    assert {r.user_id for r in batch} == {users[2].id}  # exactly 3: the limit, stop there
    batch = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=100)
    assert {r.user_id for r in batch} == {users[3].id}  # fewer than limit: all there is


async def test_a_user_too_many_for_the_cap_waits_for_the_next_batch_or_is_split_if_first(storage):
    few = await make_user(storage, "tg:1")
    many = await make_user(storage, "tg:2")
    small = await add(storage, few, "q", at=T0 - timedelta(days=1))
    lots = [
        await add(storage, many, f"q{i}", at=T0 - timedelta(hours=20, minutes=i))
        for i in range(10)
    ]
    soonest_first = sorted(lots, key=lambda r: (r.due_at, r.id))
    # 1 + 10 would exceed 2 * 4: the batch stops before the big user rather than split them.
    assert [r.id for r in await storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)] == [
        small.id
    ]
    # First in line, they are split: their 8 soonest now (the hard cap), the rest later.
    batch = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert [r.id for r in batch] == [r.id for r in soonest_first[:8]]
    # Nobody else may take the rest while w1's claim lives; w1 itself may.
    assert await storage.claim_due(T0, worker="w2", lease=LEASE, limit=4) == []
    batch = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert [r.id for r in batch] == [r.id for r in soonest_first[8:]]


async def test_a_second_worker_gets_none_of_a_users_reminders_while_the_claim_lives(storage):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    held = await add(storage, alice, "held", at=T0 - timedelta(minutes=5))
    [claimed] = await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    assert claimed.id == held.id
    # Alice has another reminder due meanwhile (new, or due later than the claim).
    fresh = await add(storage, alice, "fresh", at=T0 + timedelta(minutes=1))
    bobs = await add(storage, bob, "b", at=T0 + timedelta(minutes=1))
    almost = T0 + LEASE - timedelta(seconds=1)
    # w2 gets bob's, none of alice's: w1 holds one of hers under a live claim.
    assert [r.id for r in await storage.claim_due(almost, worker="w2", lease=LEASE, limit=10)] == [
        bobs.id
    ]
    assert await storage.claim_due(almost, worker="w3", lease=LEASE, limit=10) == []
    # The worker holding her claim may take her new one.
    [mine] = await storage.claim_due(almost, worker="w1", lease=LEASE, limit=10)
    assert (mine.id, mine.claimed_by) == (fresh.id, "w1")
    assert (await storage.get_reminder(held.id, user_id=alice.id)).claimed_by == "w1"


async def test_a_user_is_free_again_once_the_claim_is_released(storage):
    alice = await make_user(storage, "tg:1")
    first = await add(storage, alice, "first", at=T0 - timedelta(minutes=5))
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    second = await add(storage, alice, "second", at=T0)
    assert await storage.claim_due(T0, worker="w2", lease=LEASE, limit=10) == []
    assert await storage.mark_sent(first.id, worker="w1")  # w1 holds nothing of hers any more
    [taken] = await storage.claim_due(T0, worker="w2", lease=LEASE, limit=10)
    assert (taken.id, taken.claimed_by) == (second.id, "w2")


async def test_after_the_lease_runs_out_another_worker_takes_all_of_the_users_reminders(storage):
    alice = await make_user(storage, "tg:1")
    early = [await add(storage, alice, f"e{n}", at=T0 - timedelta(minutes=n)) for n in range(2)]
    late = await add(storage, alice, "late", at=T0 + timedelta(minutes=1))
    assert {r.id for r in await storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)} == {
        r.id for r in early
    }
    assert (
        await storage.claim_due(
            T0 + LEASE - timedelta(seconds=1), worker="w2", lease=LEASE, limit=10
        )
        == []
    )
    taken = await storage.claim_due(T0 + LEASE, worker="w2", lease=LEASE, limit=10)
    assert {r.id for r in taken} == {late.id, *(r.id for r in early)}
    assert all(r.claimed_by == "w2" for r in taken)
    assert not await storage.mark_sent(early[0].id, worker="w1")  # w1 lost them
    assert await storage.mark_sent(early[0].id, worker="w2")


async def test_two_workers_claiming_in_turn_get_disjoint_sets(storage):
    users = [await make_user(storage, f"tg:{n}") for n in range(3)]
    created = {
        (await add(storage, user, f"q{i}", at=T0 - timedelta(minutes=i))).id
        for user in users
        for i in range(10)
    }
    seen = []
    for turn in range(20):
        worker = "w1" if turn % 2 == 0 else "w2"
        batch = await storage.claim_due(T0, worker=worker, lease=LEASE, limit=4)
        assert all(r.claimed_by == worker for r in batch)
        seen += [r.id for r in batch]
    assert sorted(seen) == sorted(created)  # every one claimed, none twice


async def test_an_expired_lease_lets_another_worker_take_over(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    assert [r.id for r in await storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)] == [
        reminder.id
    ]
    assert (
        await storage.claim_due(
            T0 + LEASE - timedelta(seconds=1), worker="w2", lease=LEASE, limit=1
        )
        == []
    )
    [taken] = await storage.claim_due(T0 + LEASE, worker="w2", lease=LEASE, limit=1)
    assert (taken.id, taken.claimed_by, taken.claimed_until) == (reminder.id, "w2", T0 + 2 * LEASE)
    assert not await storage.mark_sent(reminder.id, worker="w1")  # w1 lost it
    assert await storage.mark_sent(reminder.id, worker="w2")


async def test_a_late_worker_nobody_replaced_still_holds_its_claim(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert await storage.mark_sent(reminder.id, worker="w1")  # real time is far from T0 + LEASE


async def test_mark_sent(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    assert not await storage.mark_sent(reminder.id, worker="w1")  # not claimed
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert not await storage.mark_sent(reminder.id, worker="w2")  # someone else's claim
    assert (await storage.get_reminder(reminder.id, user_id=user.id)).claimed_by == "w1"
    before = datetime.now(UTC)
    assert await storage.mark_sent(reminder.id, worker="w1")
    sent = await storage.get_reminder(reminder.id, user_id=user.id)
    assert (sent.status, sent.claimed_by, sent.claimed_until) == ("sent", None, None)
    assert before <= sent.sent_at <= datetime.now(UTC)
    assert sent.sent_at.tzinfo is UTC
    assert not await storage.mark_sent(reminder.id, worker="w1")  # not twice
    assert await storage.claim_due(T0 + timedelta(days=9), worker="w1", lease=LEASE, limit=9) == []
    assert await storage.pending_reminders(user.id) == []


async def test_retry_later(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    retry_at = T0 + timedelta(minutes=10)
    assert not await storage.retry_later(reminder.id, worker="w2", due_at=retry_at)
    with pytest.raises(ValueError, match="naive"):
        await storage.retry_later(reminder.id, worker="w1", due_at=datetime(2030, 1, 1))
    assert await storage.retry_later(reminder.id, worker="w1", due_at=retry_at)
    back = await storage.get_reminder(reminder.id, user_id=user.id)
    assert (back.status, back.attempts, back.due_at, back.claimed_by, back.claimed_until) == (
        "pending",
        1,
        retry_at,
        None,
        None,
    )
    assert not await storage.retry_later(
        reminder.id, worker="w1", due_at=retry_at
    )  # claim released
    assert (
        await storage.claim_due(T0 + timedelta(minutes=9), worker="w2", lease=LEASE, limit=1) == []
    )
    [again] = await storage.claim_due(retry_at, worker="w2", lease=LEASE, limit=1)
    assert (again.id, again.attempts) == (reminder.id, 1)
    assert await storage.retry_later(reminder.id, worker="w2", due_at=retry_at)
    assert (await storage.get_reminder(reminder.id, user_id=user.id)).attempts == 2


async def test_mark_failed(storage):
    user = await make_user(storage)
    reminder = await add(storage, user)
    await storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert not await storage.mark_failed(reminder.id, worker="w2")
    assert await storage.mark_failed(reminder.id, worker="w1")
    failed = await storage.get_reminder(reminder.id, user_id=user.id)
    assert (failed.status, failed.attempts, failed.claimed_by, failed.sent_at) == (
        "failed",
        1,
        None,
        None,
    )
    assert not await storage.mark_failed(reminder.id, worker="w1")
    assert await storage.claim_due(T0 + timedelta(days=9), worker="w1", lease=LEASE, limit=9) == []
    assert await storage.pending_reminders(user.id) == []


async def test_blocked_users_reminders_are_not_claimed(storage):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    blocked = await add(storage, alice)
    open_ = await add(storage, bob)
    await storage.update_user(alice.id, blocked_at=T0 - timedelta(days=1))
    assert [r.id for r in await storage.claim_due(T0, worker="w", lease=LEASE, limit=9)] == [
        open_.id
    ]
    assert await storage.claim_due(T0, worker="w", lease=LEASE, limit=9) == []
    kept = await storage.get_reminder(blocked.id, user_id=alice.id)
    assert (kept.status, kept.claimed_by) == ("pending", None)
    await storage.update_user(alice.id, unblock=True)
    assert [r.id for r in await storage.claim_due(T0, worker="w", lease=LEASE, limit=9)] == [
        blocked.id
    ]


async def test_claim_due_rejects_bad_arguments(storage):
    with pytest.raises(ValueError, match="naive"):
        await storage.claim_due(datetime(2030, 1, 1), worker="w", lease=LEASE, limit=1)
    with pytest.raises(ValueError, match="lease"):
        await storage.claim_due(T0, worker="w", lease=timedelta(0), limit=1)
    with pytest.raises(ValueError, match="limit"):
        await storage.claim_due(T0, worker="w", lease=LEASE, limit=0)
    with pytest.raises(ValueError, match="worker"):
        await storage.claim_due(T0, worker="", lease=LEASE, limit=1)


async def test_concurrent_workers_claim_each_reminder_once(storage, storage_backend):
    """Real concurrent connections (one storage each, claiming at the same time): every
    reminder claimed once, and every user's reminders by one worker.

    On PostgreSQL this exercises the users' row locks (SKIP LOCKED), on SQLite BEGIN IMMEDIATE.
    Due times interleave across users, so each batch holds several users.
    """
    rng = random.Random(5)
    users = [await make_user(storage, f"tg:{n}") for n in range(40)]
    owner = {}
    for user in users:
        for i in range(rng.randrange(1, 9)):
            reminder = await add(
                storage, user, f"q{i}", at=T0 - timedelta(seconds=rng.randrange(3600))
            )
            owner[reminder.id] = user.id
    workers = [storage_backend.open() for _ in range(4)]
    claimed = {}
    seen = set()

    async def run(name, handle):
        mine = claimed.setdefault(name, [])
        # An empty batch may only mean that another worker holds the rest right now.
        while len(seen) < len(owner):
            batch = await handle.claim_due(T0, worker=name, lease=LEASE, limit=7)
            assert all(r.claimed_by == name for r in batch)
            assert len(batch) <= 14
            mine += [r.id for r in batch]
            seen.update(r.id for r in batch)
            if not batch:
                await asyncio.sleep(0.001)

    runs = [run(f"w{n}", handle) for n, handle in enumerate(workers)]
    await asyncio.wait_for(asyncio.gather(*runs), timeout=60)
    every = [rid for ids in claimed.values() for rid in ids]
    assert len(every) == len(set(every)), "a reminder was claimed twice"
    assert set(every) == set(owner)
    holders = defaultdict(set)
    for name, ids in claimed.items():
        for rid in ids:
            holders[owner[rid]].add(name)
    assert {user_id: len(names) for user_id, names in holders.items() if len(names) > 1} == {}
    # Each one is held by the worker that got it.
    for name, ids in claimed.items():
        for rid in ids:
            assert await storage.mark_sent(rid, worker=name)


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
async def test_a_claim_in_flight_on_postgres_is_skipped_then_respected(storage, storage_backend):
    """Another replica's claim, caught before and after its commit: neither waited for nor
    overridden. (It locks the user's row and claims, as claim_due does.)"""
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    alices = await add(storage, alice, "a", at=T0 - timedelta(minutes=2))
    unclaimed = await add(storage, alice, "a2", at=T0 - timedelta(minutes=3))  # the soonest
    bobs = await add(storage, bob, "b", at=T0 - timedelta(minutes=1))
    other = psycopg.connect(PG_URL, options=f"-c search_path={storage_backend.schema}")
    try:
        other.execute("SELECT id FROM users WHERE id = %s FOR NO KEY UPDATE", (alice.id,))
        other.execute(
            "UPDATE reminders SET claimed_by = 'w1', claimed_until = %s WHERE id = %s",
            (T0 + LEASE, alices.id),
        )
        # A claim that waited for the other replica would never end: it holds its locks.
        got = await asyncio.wait_for(
            storage.claim_due(T0, worker="w2", lease=LEASE, limit=1), timeout=30
        )
        assert [r.id for r in got] == [bobs.id]  # all of alice skipped, the limit reached
        other.commit()
    finally:
        other.close()
    # Committed now: alice's other reminder is still left to w1.
    assert await storage.claim_due(T0, worker="w2", lease=LEASE, limit=9) == []
    assert (await storage.get_reminder(alices.id, user_id=alice.id)).claimed_by == "w1"
    assert (await storage.get_reminder(unclaimed.id, user_id=alice.id)).claimed_by is None


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
async def test_a_reminder_being_changed_on_postgres_is_left_for_the_next_claim(
    storage, storage_backend
):
    """A reminder locked by a change in flight (a snooze...) is skipped, not waited for; the
    user's other reminders are claimed, and their claim keeps other workers off the rest."""
    alice = await make_user(storage, "tg:1")
    busy = await add(storage, alice, "busy", at=T0 - timedelta(minutes=2))
    free = await add(storage, alice, "free", at=T0 - timedelta(minutes=1))
    other = psycopg.connect(PG_URL, options=f"-c search_path={storage_backend.schema}")
    try:
        other.execute("SELECT id FROM reminders WHERE id = %s FOR UPDATE", (busy.id,))
        got = await asyncio.wait_for(
            storage.claim_due(T0, worker="w1", lease=LEASE, limit=9), timeout=30
        )
        assert [r.id for r in got] == [free.id]
        other.commit()
    finally:
        other.close()
    assert await storage.claim_due(T0, worker="w2", lease=LEASE, limit=9) == []
    assert [r.id for r in await storage.claim_due(T0, worker="w1", lease=LEASE, limit=9)] == [
        busy.id
    ]


# With a step of the conversation


async def test_a_step_writes_its_reminder_changes_in_its_own_transaction(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    moved = await add(storage, user, "moved")
    closed = await add(storage, user, "closed")
    await add(storage, user, "gone", kind="nudge")
    other = await make_user(storage, "tg:2")
    theirs = await add(storage, other, "theirs")
    version = await storage.save_step(
        conversation.id,
        expected_version=1,
        state={"awaiting": None},
        update_id=5,
        reminders=[
            NewReminder("todo", "new", T0 + timedelta(days=1), {"question": "new"}),
            ChangeReminder(moved.id, due_at=T0 + timedelta(days=2)),
            ChangeReminder(closed.id, status="done"),
            CancelReminders(("nudge",)),
            ChangeReminder(theirs.id, status="cancelled"),  # someone else's: left alone
        ],
    )
    assert version == 2
    pending = {r.ref: r for r in await storage.pending_reminders(user.id)}
    assert set(pending) == {"moved", "new"}
    assert pending["moved"].due_at == T0 + timedelta(days=2)
    assert pending["new"].conversation_id == conversation.id
    assert (await storage.get_reminder(closed.id, user_id=user.id)).status == "done"
    assert (await storage.get_reminder(theirs.id, user_id=other.id)).status == "pending"
    # A duplicate update changes nothing, reminders included.
    with pytest.raises(DuplicateUpdate):
        await storage.save_step(
            conversation.id,
            expected_version=2,
            state={},
            update_id=5,
            reminders=[ChangeReminder(moved.id, status="cancelled")],
        )
    assert (await storage.get_reminder(moved.id, user_id=user.id)).status == "pending"
    with pytest.raises(ValueError, match="naive"):
        await storage.save_step(
            conversation.id,
            expected_version=2,
            state={},
            reminders=[ChangeReminder(moved.id, due_at=datetime(2030, 1, 1))],
        )


# Erasure and schema


async def test_delete_user_erases_their_reminders(storage, storage_backend):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    conversation = await storage.start_conversation(alice.id, "alliance", {})
    await add(storage, alice, conversation_id=conversation.id)
    await add(storage, alice, "q2")
    bobs = await add(storage, bob)
    await storage.delete_user(alice.id)
    rows = storage_backend.rows("reminders")
    assert [row["user_id"] for row in rows] == [bob.id]
    assert await storage.pending_reminders(alice.id) == []
    assert await storage.all_pending() == [(bobs, bob)]


async def test_the_database_refuses_a_second_pending_twin(storage, storage_backend):
    """The unique index, not only the code, keeps one pending reminder per kind and ref."""
    user = await make_user(storage)
    await add(storage, user)
    stamp = "'2030-01-01T00:00:00.000000+00:00'"
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        storage_backend.execute(
            "INSERT INTO reminders (user_id, kind, ref, payload, due_at, status, attempts,"
            f" created_at, updated_at) VALUES ({user.id}, 'todo', 'q1', '{{}}', {stamp},"
            f" 'pending', 0, {stamp}, {stamp})"
        )
