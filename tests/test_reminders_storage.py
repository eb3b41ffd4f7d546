"""The reminder half of the storage contract, on every backend (see the `storage` fixture).

Times given to the dispatcher's methods (`now`, `due_at`) are fixed instants in 2030, far from
the real clock, which only stamps created_at, updated_at and sent_at.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from bot.errors import StorageError
from bot.reminders import Kind
from bot.reminders.schedule import preparation_plan
from bot.storage.base import Reminder
from bot.storage.migrations import load_migrations
from tests.storage_fixtures import PG_URL

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def make_user(storage, key="tg:1", tz="Europe/Paris"):
    return storage.get_or_create_user(key, lang="fr", tz=tz)


def add(storage, user, ref="q1", *, kind="todo", at=T0, **extra):
    return storage.add_reminder(user.id, kind=kind, ref=ref, due_at=at, **extra)


def is_utc(moment):
    return moment is not None and moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# Scheduling


def test_add_reminder_returns_a_pending_reminder(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    paris = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    payload = {"text_key": "next_steps.fill_grid", "due": "2030-03-04", "n": [1, None, "é"]}
    reminder = storage.add_reminder(
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
    assert storage.get_reminder(reminder.id, user_id=user.id) == reminder
    assert storage.pending_reminders(user.id) == [reminder]


def test_payload_defaults_to_an_empty_dict(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    assert reminder.payload == {}
    assert reminder.conversation_id is None


def test_adding_the_same_kind_and_ref_moves_the_pending_reminder(storage):
    user = make_user(storage)
    first = add(storage, user, payload={"v": 1})
    moved = add(storage, user, at=T0 + timedelta(days=2), payload={"v": 2})
    assert moved.id == first.id
    assert moved.due_at == T0 + timedelta(days=2)
    assert moved.payload == {"v": 2}
    assert moved.created_at == first.created_at
    assert storage.pending_reminders(user.id) == [moved]
    # Another ref, another kind, another user: other reminders.
    other_ref = add(storage, user, "q2")
    other_kind = add(storage, user, kind="nudge")
    bob = make_user(storage, "tg:2")
    bobs = add(storage, bob)
    assert len({first.id, other_ref.id, other_kind.id, bobs.id}) == 4
    assert len(storage.pending_reminders(user.id)) == 3
    assert storage.pending_reminders(bob.id) == [bobs]


def test_re_adding_with_the_same_due_keeps_the_claim(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    [claimed] = storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    again = add(storage, user, payload={"more": True})
    assert (again.id, again.claimed_by, again.claimed_until) == (
        reminder.id,
        "w1",
        claimed.claimed_until,
    )
    assert storage.claim_due(T0, worker="w2", lease=LEASE, limit=10) == []
    assert storage.mark_sent(reminder.id, worker="w1")


def test_moving_a_claimed_reminder_releases_the_claim(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    assert storage.retry_later(reminder.id, worker="w1", due_at=T0)
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    moved = add(storage, user, at=T0 + timedelta(days=1))
    assert (moved.claimed_by, moved.claimed_until, moved.attempts) == (None, None, 0)
    assert not storage.mark_sent(reminder.id, worker="w1")  # the move won
    assert storage.get_reminder(reminder.id, user_id=user.id).status == "pending"


def test_adding_again_after_sending_schedules_a_new_one(storage):
    user = make_user(storage)
    sent = add(storage, user)
    storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert storage.mark_sent(sent.id, worker="w")
    again = add(storage, user, at=T0 + timedelta(days=7))
    assert again.id != sent.id
    assert storage.get_reminder(sent.id, user_id=user.id).status == "sent"
    assert storage.pending_reminders(user.id) == [again]


def test_add_reminder_rejects_bad_arguments_and_writes_nothing(storage):
    alice = make_user(storage)
    bob = make_user(storage, "tg:2")
    bobs_conversation = storage.start_conversation(bob.id, "alliance", {})
    with pytest.raises(ValueError, match="naive"):
        add(storage, alice, at=datetime(2030, 1, 1))  # naive on purpose
    with pytest.raises(TypeError):
        add(storage, alice, payload={"bad": object()})
    with pytest.raises(ValueError, match="non-empty"):
        add(storage, alice, "")
    with pytest.raises(StorageError):
        storage.add_reminder(404, kind="todo", ref="q1", due_at=T0)
    with pytest.raises(StorageError):  # someone else's conversation
        add(storage, alice, conversation_id=bobs_conversation.id)
    with pytest.raises(StorageError):
        add(storage, alice, conversation_id=404)
    assert storage.pending_reminders(alice.id) == []
    assert storage.all_pending() == []


def test_a_plan_scheduled_twice_is_moved_not_duplicated(storage):
    """The way the bot schedules: add every planned item; a new plan moves the old one."""
    user = make_user(storage, tz="Europe/Paris")
    conversation = storage.start_conversation(user.id, "alliance", {})

    def schedule(first):
        for item in preparation_plan(first, 4, 3, user.tz, 9):
            storage.add_reminder(
                user.id,
                kind=item.kind,  # a Kind: stored as its plain string
                ref=item.ref,
                due_at=item.due_at,
                conversation_id=conversation.id,
            )

    schedule(date(2030, 1, 10))
    first = storage.pending_reminders(user.id)
    schedule(date(2030, 1, 17))  # the first session moved a week later
    moved = storage.pending_reminders(user.id)
    assert [r.id for r in moved] == [r.id for r in first]
    assert [r.due_at - f.due_at for r, f in zip(moved, first, strict=True)] == [
        timedelta(days=7)
    ] * 5
    assert [(r.kind, r.ref) for r in moved][-1] == ("go_no_go", "preparation")
    assert type(moved[0].kind) is str
    assert moved[0].kind == Kind.PREP_EVE
    assert storage.cancel_reminders(user.id, kinds=[Kind.PREP_EVE]) == 4


# Reading


def test_pending_reminders_are_in_due_order(storage):
    user = make_user(storage)
    late = add(storage, user, "late", at=T0 + timedelta(days=3))
    tie_a = add(storage, user, "tie-a", at=T0 + timedelta(days=1))
    soon = add(storage, user, "soon", at=T0)
    tie_b = add(storage, user, "tie-b", at=T0 + timedelta(days=1))
    closed = add(storage, user, "closed", at=T0 - timedelta(days=1))
    storage.set_reminder_status(closed.id, user_id=user.id, status="done")
    assert [r.id for r in storage.pending_reminders(user.id)] == [
        soon.id,
        tie_a.id,
        tie_b.id,
        late.id,
    ]


def test_all_pending_lists_every_user_with_a_limit(storage):
    alice = make_user(storage, "tg:1", tz="Europe/Paris")
    bob = make_user(storage, "tg:2", tz="Asia/Tokyo")
    bob = storage.update_user(bob.id, blocked_at=T0)  # still listed for operators
    a2 = add(storage, alice, "a2", at=T0 + timedelta(hours=2))
    b1 = add(storage, bob, "b1", at=T0 + timedelta(hours=1))
    a1 = add(storage, alice, "a1", at=T0)
    done = add(storage, bob, "done", at=T0)
    storage.set_reminder_status(done.id, user_id=bob.id, status="done")
    assert storage.all_pending() == [(a1, alice), (b1, bob), (a2, alice)]
    assert storage.all_pending(limit=2) == [(a1, alice), (b1, bob)]
    with pytest.raises(ValueError, match="limit"):
        storage.all_pending(limit=0)


# One user can never reach another's reminders


def test_user_b_cannot_read_or_change_user_a_reminders(storage):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    mine = add(storage, alice, payload={"secret": "alice"})
    assert storage.get_reminder(mine.id, user_id=bob.id) is None
    assert storage.reschedule(mine.id, user_id=bob.id, due_at=T0 + timedelta(days=9)) is None
    assert storage.set_reminder_status(mine.id, user_id=bob.id, status="cancelled") is None
    assert storage.set_reminder_status(mine.id, user_id=bob.id, status="done") is None
    assert storage.cancel_reminders(bob.id) == 0
    assert storage.get_reminder(mine.id, user_id=alice.id) == mine
    assert storage.pending_reminders(bob.id) == []
    assert storage.get_reminder(404, user_id=alice.id) is None


# The user's own changes


def test_reschedule_moves_a_pending_reminder(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    later = datetime(2030, 3, 10, 9, 0, tzinfo=ZoneInfo("America/Montreal"))
    moved = storage.reschedule(reminder.id, user_id=user.id, due_at=later)
    assert (moved.id, moved.status, moved.due_at) == (reminder.id, "pending", later)
    assert moved.due_at.tzinfo is UTC
    assert storage.claim_due(T0, worker="w", lease=LEASE, limit=10) == []
    with pytest.raises(ValueError, match="naive"):
        storage.reschedule(reminder.id, user_id=user.id, due_at=datetime(2030, 1, 1))


def test_snoozing_a_sent_reminder_makes_it_pending_again(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert storage.retry_later(reminder.id, worker="w", due_at=T0)
    storage.claim_due(T0, worker="w", lease=LEASE, limit=1)
    assert storage.mark_sent(reminder.id, worker="w")
    twin = add(storage, user, at=T0 + timedelta(days=30))  # e.g. the plan scheduled it again
    snoozed = storage.reschedule(reminder.id, user_id=user.id, due_at=T0 + timedelta(days=3))
    assert (snoozed.status, snoozed.attempts, snoozed.claimed_by) == ("pending", 0, None)
    assert snoozed.sent_at is not None  # when it was last sent
    # The snoozed one replaces its pending twin: still one pending per kind and ref.
    assert storage.get_reminder(twin.id, user_id=user.id).status == "cancelled"
    assert storage.pending_reminders(user.id) == [snoozed]


def test_closing_a_reminder(storage):
    user = make_user(storage)
    pending = add(storage, user, "a")
    sent = add(storage, user, "b")
    storage.claim_due(T0, worker="w", lease=LEASE, limit=10)
    assert storage.mark_sent(sent.id, worker="w")
    cancelled = storage.set_reminder_status(pending.id, user_id=user.id, status="cancelled")
    assert (cancelled.status, cancelled.claimed_by, cancelled.claimed_until) == (
        "cancelled",
        None,
        None,
    )
    assert not storage.mark_sent(pending.id, worker="w")  # the user's cancel won
    done = storage.set_reminder_status(sent.id, user_id=user.id, status="done")
    assert done.status == "done"
    # Closed is final: neither closing again nor a snooze changes it.
    assert storage.set_reminder_status(sent.id, user_id=user.id, status="cancelled") == done
    assert storage.reschedule(sent.id, user_id=user.id, due_at=T0 + timedelta(days=1)) == done
    assert storage.set_reminder_status(pending.id, user_id=user.id, status="done") == cancelled
    with pytest.raises(ValueError, match="done"):
        storage.set_reminder_status(pending.id, user_id=user.id, status="sent")
    assert storage.pending_reminders(user.id) == []


def test_cancel_reminders_by_kind(storage):
    user = make_user(storage)
    bob = make_user(storage, "tg:2")
    add(storage, user, "n1", kind="nudge")
    add(storage, user, "n2", kind="nudge")
    review = add(storage, user, "review-1", kind="review")
    todo = add(storage, user, "q1", kind="todo")
    bobs = add(storage, bob, "n1", kind="nudge")
    sent = add(storage, user, "q2", kind="todo", at=T0 - timedelta(days=1))
    storage.claim_due(T0 - timedelta(days=1), worker="w", lease=LEASE, limit=1)
    assert storage.mark_sent(sent.id, worker="w")

    assert storage.cancel_reminders(user.id, kinds=["nudge"]) == 2
    assert storage.cancel_reminders(user.id, kinds=["nudge"]) == 0
    assert storage.cancel_reminders(user.id, kinds=[]) == 0
    assert [r.id for r in storage.pending_reminders(user.id)] == [review.id, todo.id]
    with pytest.raises(TypeError):
        storage.cancel_reminders(user.id, kinds="todo")
    assert storage.cancel_reminders(user.id) == 2
    assert storage.pending_reminders(user.id) == []
    assert storage.get_reminder(sent.id, user_id=user.id).status == "sent"  # history stays
    assert storage.pending_reminders(bob.id) == [bobs]


# The dispatcher


def test_claim_due_takes_due_reminders_soonest_first(storage):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    later = add(storage, alice, "later", at=T0 - timedelta(minutes=1))
    first = add(storage, alice, "first", at=T0 - timedelta(days=2))
    exactly = add(storage, bob, "exactly", at=T0)
    add(storage, alice, "future", at=T0 + timedelta(seconds=1))
    claimed = storage.claim_due(T0, worker="w1", lease=LEASE, limit=2)
    assert [r.id for r in claimed] == [first.id, later.id]
    for reminder in claimed:
        assert (reminder.claimed_by, reminder.claimed_until) == ("w1", T0 + LEASE)
        assert reminder.claimed_until.tzinfo is UTC
        assert reminder.status == "pending"
        assert storage.get_reminder(reminder.id, user_id=alice.id) == reminder
    assert [r.id for r in storage.claim_due(T0, worker="w1", lease=LEASE, limit=5)] == [exactly.id]
    assert storage.claim_due(T0, worker="w1", lease=LEASE, limit=5) == []


def test_a_users_due_reminders_all_go_to_one_worker(storage):
    alice, bob, carol = (make_user(storage, f"tg:{n}") for n in range(3))
    # Due times interleave across users; users come in the order of their soonest reminder.
    alices = [add(storage, alice, f"a{n}", at=T0 - timedelta(days=3 - n)) for n in range(3)]
    bobs = [add(storage, bob, f"b{n}", at=T0 - timedelta(days=2, hours=12 - n)) for n in range(2)]
    carols = [add(storage, carol, "c0", at=T0 - timedelta(hours=1))]
    add(storage, alice, "future", at=T0 + timedelta(minutes=1))

    def ids(batch):
        return [r.id for r in batch]

    # limit 2: alice comes first and is taken whole (3), not split across workers.
    first = storage.claim_due(T0, worker="w1", lease=LEASE, limit=2)
    assert ids(first) == [r.id for r in alices]
    assert ids(storage.claim_due(T0, worker="w2", lease=LEASE, limit=2)) == [r.id for r in bobs]
    assert ids(storage.claim_due(T0, worker="w3", lease=LEASE, limit=2)) == [r.id for r in carols]
    assert storage.claim_due(T0, worker="w4", lease=LEASE, limit=9) == []


def test_claim_due_takes_whole_users_up_to_about_limit(storage):
    """limit is a target: whole users until it is reached, never more than twice it."""
    users = [make_user(storage, f"tg:{n}") for n in range(4)]
    for n, user in enumerate(users):  # 3 reminders each; user 0 the soonest
        for i in range(3):
            add(storage, user, f"q{i}", at=T0 - timedelta(hours=10 - n, minutes=i))
    batch = storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert len(batch) == 6  # two whole users: 3 is below 4, and 6 is within 8
    assert {r.user_id for r in batch} == {users[0].id, users[1].id}
    assert [(r.due_at, r.id) for r in batch] == sorted((r.due_at, r.id) for r in batch)
    batch = storage.claim_due(T0, worker="w1", lease=LEASE, limit=3)
    assert {r.user_id for r in batch} == {users[2].id}  # exactly 3: the limit, stop there
    batch = storage.claim_due(T0, worker="w1", lease=LEASE, limit=100)
    assert {r.user_id for r in batch} == {users[3].id}  # fewer than limit: all there is


def test_a_user_too_many_for_the_cap_waits_for_the_next_batch_or_is_split_if_first(storage):
    few = make_user(storage, "tg:1")
    many = make_user(storage, "tg:2")
    small = add(storage, few, "q", at=T0 - timedelta(days=1))
    lots = [add(storage, many, f"q{i}", at=T0 - timedelta(hours=20, minutes=i)) for i in range(10)]
    soonest_first = sorted(lots, key=lambda r: (r.due_at, r.id))
    # 1 + 10 would exceed 2 * 4: the batch stops before the big user rather than split them.
    assert [r.id for r in storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)] == [small.id]
    # First in line, they are split: their 8 soonest now (the hard cap), the rest later.
    batch = storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert [r.id for r in batch] == [r.id for r in soonest_first[:8]]
    # Nobody else may take the rest while w1's claim lives; w1 itself may.
    assert storage.claim_due(T0, worker="w2", lease=LEASE, limit=4) == []
    batch = storage.claim_due(T0, worker="w1", lease=LEASE, limit=4)
    assert [r.id for r in batch] == [r.id for r in soonest_first[8:]]


def test_a_second_worker_gets_none_of_a_users_reminders_while_the_claim_lives(storage):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    held = add(storage, alice, "held", at=T0 - timedelta(minutes=5))
    [claimed] = storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    assert claimed.id == held.id
    # Alice has another reminder due meanwhile (new, or due later than the claim).
    fresh = add(storage, alice, "fresh", at=T0 + timedelta(minutes=1))
    bobs = add(storage, bob, "b", at=T0 + timedelta(minutes=1))
    almost = T0 + LEASE - timedelta(seconds=1)
    # w2 gets bob's, none of alice's: w1 holds one of hers under a live claim.
    assert [r.id for r in storage.claim_due(almost, worker="w2", lease=LEASE, limit=10)] == [
        bobs.id
    ]
    assert storage.claim_due(almost, worker="w3", lease=LEASE, limit=10) == []
    # The worker holding her claim may take her new one.
    [mine] = storage.claim_due(almost, worker="w1", lease=LEASE, limit=10)
    assert (mine.id, mine.claimed_by) == (fresh.id, "w1")
    assert storage.get_reminder(held.id, user_id=alice.id).claimed_by == "w1"


def test_a_user_is_free_again_once_the_claim_is_released(storage):
    alice = make_user(storage, "tg:1")
    first = add(storage, alice, "first", at=T0 - timedelta(minutes=5))
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)
    second = add(storage, alice, "second", at=T0)
    assert storage.claim_due(T0, worker="w2", lease=LEASE, limit=10) == []
    assert storage.mark_sent(first.id, worker="w1")  # w1 holds nothing of hers any more
    [taken] = storage.claim_due(T0, worker="w2", lease=LEASE, limit=10)
    assert (taken.id, taken.claimed_by) == (second.id, "w2")


def test_after_the_lease_runs_out_another_worker_takes_all_of_the_users_reminders(storage):
    alice = make_user(storage, "tg:1")
    early = [add(storage, alice, f"e{n}", at=T0 - timedelta(minutes=n)) for n in range(2)]
    late = add(storage, alice, "late", at=T0 + timedelta(minutes=1))
    assert {r.id for r in storage.claim_due(T0, worker="w1", lease=LEASE, limit=10)} == {
        r.id for r in early
    }
    assert (
        storage.claim_due(T0 + LEASE - timedelta(seconds=1), worker="w2", lease=LEASE, limit=10)
        == []
    )
    taken = storage.claim_due(T0 + LEASE, worker="w2", lease=LEASE, limit=10)
    assert {r.id for r in taken} == {late.id, *(r.id for r in early)}
    assert all(r.claimed_by == "w2" for r in taken)
    assert not storage.mark_sent(early[0].id, worker="w1")  # w1 lost them
    assert storage.mark_sent(early[0].id, worker="w2")


def test_two_workers_claiming_in_turn_get_disjoint_sets(storage):
    users = [make_user(storage, f"tg:{n}") for n in range(3)]
    created = {
        add(storage, user, f"q{i}", at=T0 - timedelta(minutes=i)).id
        for user in users
        for i in range(10)
    }
    seen = []
    for turn in range(20):
        worker = "w1" if turn % 2 == 0 else "w2"
        batch = storage.claim_due(T0, worker=worker, lease=LEASE, limit=4)
        assert all(r.claimed_by == worker for r in batch)
        seen += [r.id for r in batch]
    assert sorted(seen) == sorted(created)  # every one claimed, none twice


def test_an_expired_lease_lets_another_worker_take_over(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    assert [r.id for r in storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)] == [
        reminder.id
    ]
    assert (
        storage.claim_due(T0 + LEASE - timedelta(seconds=1), worker="w2", lease=LEASE, limit=1)
        == []
    )
    [taken] = storage.claim_due(T0 + LEASE, worker="w2", lease=LEASE, limit=1)
    assert (taken.id, taken.claimed_by, taken.claimed_until) == (reminder.id, "w2", T0 + 2 * LEASE)
    assert not storage.mark_sent(reminder.id, worker="w1")  # w1 lost it
    assert storage.mark_sent(reminder.id, worker="w2")


def test_a_late_worker_nobody_replaced_still_holds_its_claim(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert storage.mark_sent(reminder.id, worker="w1")  # real time is far from T0 + LEASE


def test_mark_sent(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    assert not storage.mark_sent(reminder.id, worker="w1")  # not claimed
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert not storage.mark_sent(reminder.id, worker="w2")  # someone else's claim
    assert storage.get_reminder(reminder.id, user_id=user.id).claimed_by == "w1"
    before = datetime.now(UTC)
    assert storage.mark_sent(reminder.id, worker="w1")
    sent = storage.get_reminder(reminder.id, user_id=user.id)
    assert (sent.status, sent.claimed_by, sent.claimed_until) == ("sent", None, None)
    assert before <= sent.sent_at <= datetime.now(UTC)
    assert sent.sent_at.tzinfo is UTC
    assert not storage.mark_sent(reminder.id, worker="w1")  # not twice
    assert storage.claim_due(T0 + timedelta(days=9), worker="w1", lease=LEASE, limit=9) == []
    assert storage.pending_reminders(user.id) == []


def test_retry_later(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    retry_at = T0 + timedelta(minutes=10)
    assert not storage.retry_later(reminder.id, worker="w2", due_at=retry_at)
    with pytest.raises(ValueError, match="naive"):
        storage.retry_later(reminder.id, worker="w1", due_at=datetime(2030, 1, 1))
    assert storage.retry_later(reminder.id, worker="w1", due_at=retry_at)
    back = storage.get_reminder(reminder.id, user_id=user.id)
    assert (back.status, back.attempts, back.due_at, back.claimed_by, back.claimed_until) == (
        "pending",
        1,
        retry_at,
        None,
        None,
    )
    assert not storage.retry_later(reminder.id, worker="w1", due_at=retry_at)  # claim released
    assert storage.claim_due(T0 + timedelta(minutes=9), worker="w2", lease=LEASE, limit=1) == []
    [again] = storage.claim_due(retry_at, worker="w2", lease=LEASE, limit=1)
    assert (again.id, again.attempts) == (reminder.id, 1)
    assert storage.retry_later(reminder.id, worker="w2", due_at=retry_at)
    assert storage.get_reminder(reminder.id, user_id=user.id).attempts == 2


def test_mark_failed(storage):
    user = make_user(storage)
    reminder = add(storage, user)
    storage.claim_due(T0, worker="w1", lease=LEASE, limit=1)
    assert not storage.mark_failed(reminder.id, worker="w2")
    assert storage.mark_failed(reminder.id, worker="w1")
    failed = storage.get_reminder(reminder.id, user_id=user.id)
    assert (failed.status, failed.attempts, failed.claimed_by, failed.sent_at) == (
        "failed",
        1,
        None,
        None,
    )
    assert not storage.mark_failed(reminder.id, worker="w1")
    assert storage.claim_due(T0 + timedelta(days=9), worker="w1", lease=LEASE, limit=9) == []
    assert storage.pending_reminders(user.id) == []


def test_blocked_users_reminders_are_not_claimed(storage):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    blocked = add(storage, alice)
    open_ = add(storage, bob)
    storage.update_user(alice.id, blocked_at=T0 - timedelta(days=1))
    assert [r.id for r in storage.claim_due(T0, worker="w", lease=LEASE, limit=9)] == [open_.id]
    assert storage.claim_due(T0, worker="w", lease=LEASE, limit=9) == []
    kept = storage.get_reminder(blocked.id, user_id=alice.id)
    assert (kept.status, kept.claimed_by) == ("pending", None)
    storage.update_user(alice.id, unblock=True)
    assert [r.id for r in storage.claim_due(T0, worker="w", lease=LEASE, limit=9)] == [blocked.id]


def test_claim_due_rejects_bad_arguments(storage):
    with pytest.raises(ValueError, match="naive"):
        storage.claim_due(datetime(2030, 1, 1), worker="w", lease=LEASE, limit=1)
    with pytest.raises(ValueError, match="lease"):
        storage.claim_due(T0, worker="w", lease=timedelta(0), limit=1)
    with pytest.raises(ValueError, match="limit"):
        storage.claim_due(T0, worker="w", lease=LEASE, limit=0)
    with pytest.raises(ValueError, match="worker"):
        storage.claim_due(T0, worker="", lease=LEASE, limit=1)


def test_concurrent_workers_claim_each_reminder_once(storage, storage_backend):
    """Real concurrent connections (threads, one handle each): every reminder claimed once,
    and every user's reminders by one worker.

    On PostgreSQL this exercises the users' row locks (SKIP LOCKED), on SQLite BEGIN IMMEDIATE.
    Due times interleave across users, so each batch holds several users.
    """
    rng = random.Random(5)
    users = [make_user(storage, f"tg:{n}") for n in range(40)]
    owner = {}
    for user in users:
        for i in range(rng.randrange(1, 9)):
            reminder = add(storage, user, f"q{i}", at=T0 - timedelta(seconds=rng.randrange(3600)))
            owner[reminder.id] = user.id
    workers = [storage_backend.open() for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    claimed = {}
    errors = []
    lock = threading.Lock()
    seen = set()

    def run(name, handle):
        mine = claimed.setdefault(name, [])
        deadline = time.monotonic() + 30
        try:
            barrier.wait()
            # An empty batch may only mean that another worker holds the rest right now.
            while time.monotonic() < deadline:
                with lock:
                    if len(seen) >= len(owner):
                        return
                batch = handle.claim_due(T0, worker=name, lease=LEASE, limit=7)
                assert all(r.claimed_by == name for r in batch)
                assert len(batch) <= 14
                mine += [r.id for r in batch]
                with lock:
                    seen.update(r.id for r in batch)
                if not batch:
                    time.sleep(0.001)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(f"w{n}", handle)) for n, handle in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [rid for ids in claimed.values() for rid in ids]
    assert len(every) == len(set(every)), "a reminder was claimed twice"
    assert set(every) == set(owner)
    holders = defaultdict(set)
    for name, ids in claimed.items():
        for rid in ids:
            holders[owner[rid]].add(name)
    assert {user_id: len(names) for user_id, names in holders.items() if len(names) > 1} == {}
    if storage_backend.name == "postgres":
        # The work was really shared. (SQLite's busy handler sleeps: one worker may do it all.)
        assert sum(1 for ids in claimed.values() if ids) >= 2
    # Each one is held by the worker that got it.
    for name, ids in claimed.items():
        for rid in ids:
            assert storage.mark_sent(rid, worker=name)


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
def test_a_claim_in_flight_on_postgres_is_skipped_then_respected(storage, storage_backend):
    """Another replica's claim, caught before and after its commit: neither waited for nor
    overridden. (It locks the user's row and claims, as claim_due does.)"""
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    alices = add(storage, alice, "a", at=T0 - timedelta(minutes=2))
    unclaimed = add(storage, alice, "a2", at=T0 - timedelta(minutes=3))  # the soonest
    bobs = add(storage, bob, "b", at=T0 - timedelta(minutes=1))
    other = psycopg.connect(PG_URL, options=f"-c search_path={storage_backend.schema}")
    try:
        other.execute("SELECT id FROM users WHERE id = %s FOR NO KEY UPDATE", (alice.id,))
        other.execute(
            "UPDATE reminders SET claimed_by = 'w1', claimed_until = %s WHERE id = %s",
            (T0 + LEASE, alices.id),
        )
        got = []
        claimer = threading.Thread(
            target=lambda: got.extend(storage.claim_due(T0, worker="w2", lease=LEASE, limit=1))
        )
        claimer.start()
        claimer.join(timeout=10)
        assert not claimer.is_alive(), "claim_due waited for another replica's claim"
        assert [r.id for r in got] == [bobs.id]  # all of alice skipped, the limit reached
        other.commit()
    finally:
        other.close()
    # Committed now: alice's other reminder is still left to w1.
    assert storage.claim_due(T0, worker="w2", lease=LEASE, limit=9) == []
    assert storage.get_reminder(alices.id, user_id=alice.id).claimed_by == "w1"
    assert storage.get_reminder(unclaimed.id, user_id=alice.id).claimed_by is None


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
def test_a_reminder_being_changed_on_postgres_is_left_for_the_next_claim(storage, storage_backend):
    """A reminder locked by a change in flight (a snooze...) is skipped, not waited for; the
    user's other reminders are claimed, and their claim keeps other workers off the rest."""
    alice = make_user(storage, "tg:1")
    busy = add(storage, alice, "busy", at=T0 - timedelta(minutes=2))
    free = add(storage, alice, "free", at=T0 - timedelta(minutes=1))
    other = psycopg.connect(PG_URL, options=f"-c search_path={storage_backend.schema}")
    try:
        other.execute("SELECT id FROM reminders WHERE id = %s FOR UPDATE", (busy.id,))
        got = []
        claimer = threading.Thread(
            target=lambda: got.extend(storage.claim_due(T0, worker="w1", lease=LEASE, limit=9))
        )
        claimer.start()
        claimer.join(timeout=10)
        assert not claimer.is_alive(), "claim_due waited for a reminder being changed"
        assert [r.id for r in got] == [free.id]
        other.commit()
    finally:
        other.close()
    assert storage.claim_due(T0, worker="w2", lease=LEASE, limit=9) == []
    assert [r.id for r in storage.claim_due(T0, worker="w1", lease=LEASE, limit=9)] == [busy.id]


# Erasure and schema


def test_delete_user_erases_their_reminders(storage, storage_backend):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    conversation = storage.start_conversation(alice.id, "alliance", {})
    add(storage, alice, conversation_id=conversation.id)
    add(storage, alice, "q2")
    bobs = add(storage, bob)
    storage.delete_user(alice.id)
    rows = storage_backend.rows("reminders")
    assert [row["user_id"] for row in rows] == [bob.id]
    assert storage.pending_reminders(alice.id) == []
    assert storage.all_pending() == [(bobs, bob)]


def test_upgrade_from_0001_with_data(storage_backend):
    storage = storage_backend.open()
    first = load_migrations()[:1]
    assert first[0].name == "0001_initial"
    storage._migrate(first)
    assert "reminders" not in storage_backend.tables()
    user = storage.get_or_create_user("tg:1", lang="fr", tz="Europe/Paris")
    conversation = storage.start_conversation(user.id, "alliance", {"node": "q1"})
    storage.update_user(user.id, blocked_at=T0)
    before = (storage.get_user("tg:1"), storage.conversations(user.id))

    storage.migrate()

    assert "reminders" in storage_backend.tables()
    assert {
        "reminders_due",
        "reminders_by_user",
        "reminders_by_conversation",
        "reminders_pending_key",
    } <= storage_backend.indexes()
    assert (storage.get_user("tg:1"), storage.conversations(user.id)) == before
    reminder = storage.add_reminder(
        user.id, kind="todo", ref="q1", due_at=T0, conversation_id=conversation.id
    )
    assert storage.pending_reminders(user.id) == [reminder]
    assert [
        row[0] for row in storage_backend.execute("SELECT version FROM schema_migrations")
    ] == [
        1,
        2,
    ]


def test_the_database_refuses_a_second_pending_twin(storage, storage_backend):
    """The unique index, not only the code, keeps one pending reminder per kind and ref."""
    user = make_user(storage)
    add(storage, user)
    stamp = "'2030-01-01T00:00:00.000000+00:00'"
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        storage_backend.execute(
            "INSERT INTO reminders (user_id, kind, ref, payload, due_at, status, attempts,"
            f" created_at, updated_at) VALUES ({user.id}, 'todo', 'q1', '{{}}', {stamp},"
            f" 'pending', 0, {stamp}, {stamp})"
        )
