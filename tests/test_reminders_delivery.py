"""Reminders end to end: scheduled on Telegram, delivered by the dispatcher after a restart,
snoozed, done, and the follow-up questions they carry. Time is a fake clock."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.reminders.dispatcher import Dispatcher
from bot.storage.factory import open_storage
from bot.telegram.reminder_views import make_renderer
from tests.reminder_fixtures import nearly_done
from tests.telegram_fixtures import running_bot

PARIS = ZoneInfo("Europe/Paris")
USER = 5151


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


async def tick(harness, clock, database_url, dialogues=DEFAULT_DIR):
    """One dispatcher tick through the application's own bot (real HTTP to the emulator)."""
    storage = open_storage(database_url)
    try:
        dispatcher = Dispatcher(
            storage,
            harness.application.bot,
            make_renderer(storage, load_dialogue(dialogues)),
            worker="test",
            clock=clock,
            sleep=clock.sleep,
        )
        report = await dispatcher.tick()
        await harness.emulator.wait_idle()
        return report
    finally:
        storage.close()


def reminders_of(database_url, statuses=("pending",)):
    storage = open_storage(database_url)
    try:
        user = storage.get_user(f"tg:{USER}")
        return [r for r in storage.pending_reminders(user.id) if r.status in statuses]
    finally:
        storage.close()


def bot_texts(emulator):
    return [m.readable for m in emulator.messages(USER, from_bot=True)]


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC))


async def finish_and_accept_all(emulator, database_url, clock):
    nearly_done(database_url, USER)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="fr")
        await ana.send("/start")
        await ana.tap("Oui")
        await ana.tap("Tous à leur date")
        plan = [m for m in ana.messages() if "Calendrier de préparation" in m.readable][-1]
        await ana.tap_data("q|yes", message_id=plan.message_id)


async def test_reminders_arrive_once_after_a_restart(emulator, database_url, clock):
    await finish_and_accept_all(emulator, database_url, clock)
    scheduled = reminders_of(database_url)
    first_due = min(r.due_at for r in scheduled)
    # The bot was down when the first reminders fell due: it starts again a day later.
    clock.now = first_due + dt.timedelta(days=1)
    due_now = [r for r in scheduled if r.due_at <= clock.now]
    assert due_now
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        before = len(bot_texts(emulator))
        report = await tick(bot, clock, database_url)
        assert report.sent == len(due_now)
        sent = bot_texts(emulator)[before:]
        assert len(sent) == len(due_now)
        report = await tick(bot, clock, database_url)
        assert report.sent == 0
    # And once more after another restart: nothing is sent twice.
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        count = len(bot_texts(emulator))
        await tick(bot, clock, database_url)
        assert len(bot_texts(emulator)) == count


async def test_snooze_and_done_buttons(emulator, database_url, clock):
    await finish_and_accept_all(emulator, database_url, clock)
    step = min(
        (r for r in reminders_of(database_url) if r.kind == "next_step"), key=lambda r: r.due_at
    )
    clock.now = step.due_at + dt.timedelta(minutes=1)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="fr")
        await tick(bot, clock, database_url)
        message = next(
            m
            for m in reversed(emulator.messages(USER, from_bot=True))
            if "prochaine étape" in m.readable
        )
        assert message.buttons() == ["✅ Fait", "🔕 Arrêter", "+1 jour", "+1 semaine"]
        await ana.tap_data(f"r|{step.id}|d1", message_id=message.message_id)
        assert "Reporté au" in emulator.message(USER, message.message_id).readable
        moved = next(r for r in reminders_of(database_url) if r.id == step.id)
        local = moved.due_at.astimezone(PARIS)
        assert local.date() == clock.now.astimezone(PARIS).date() + dt.timedelta(days=1)
        assert local.hour == 9
        clock.now = moved.due_at + dt.timedelta(minutes=1)
        await tick(bot, clock, database_url)
        again = emulator.messages(USER, from_bot=True)[-1]
        await ana.tap_data(f"r|{step.id}|done", message_id=again.message_id)
        assert "Noté" in emulator.message(USER, again.message_id).readable
        assert step.id not in {r.id for r in reminders_of(database_url)}
        await ana.tap_data(f"r|{step.id}|d1", message_id=again.message_id)
        assert not bot.errors


async def test_checkin_after_a_working_session_is_stored_with_the_project(
    emulator, database_url, clock
):
    await finish_and_accept_all(emulator, database_url, clock)
    checkin = next(r for r in reminders_of(database_url) if r.kind == "checkin")
    clock.now = checkin.due_at + dt.timedelta(minutes=5)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="fr")
        await tick(bot, clock, database_url)
        assert any("séance de travail n°1 avec Martin & Fils" in t for t in bot_texts(emulator))
        await ana.tap("4")
        assert "L’intention commune se confirme-t-elle ?" in ana.last_text()
        await ana.tap("Oui")
        await ana.tap("Pas encore")
        assert "Merci, c’est noté" in ana.last_text()
    storage = open_storage(database_url)
    try:
        user = storage.get_user(f"tg:{USER}")
        answers = storage.current_answers(storage.active_conversation(user.id).id)
    finally:
        storage.close()
    assert answers["checkin.session-1.session_rating"] == 4
    assert answers["checkin.session-1.intent_confirmed"] == "yes"
    assert answers["checkin.session-1.trust_growing"] == "notyet"


async def test_review_answered_schedules_the_next_one(emulator, database_url, clock):
    await finish_and_accept_all(emulator, database_url, clock)
    review = next(r for r in reminders_of(database_url) if r.kind == "review")
    clock.now = review.due_at + dt.timedelta(minutes=5)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="fr")
        await tick(bot, clock, database_url)
        assert any("revue de votre alliance" in t for t in bot_texts(emulator))
        rid = review.id
        last = emulator.messages(USER, from_bot=True)
        review_message = next(m for m in reversed(last) if "revue de votre alliance" in m.readable)
        await ana.tap_data(f"f|{rid}|evolving|yes", message_id=review_message.message_id)
        await ana.tap_data(f"f|{rid}|equity_kept|yes", message_id=ana.last_message().message_id)
        await ana.tap_data(f"f|{rid}|staff_mobilised|5", message_id=ana.last_message().message_id)
        assert "Prochaine revue programmée" in ana.last_text()
    reviews = [r for r in reminders_of(database_url) if r.kind == "review"]
    assert [r.ref for r in reviews] == ["review-2"]
    assert reviews[0].due_at > review.due_at


async def test_blocked_user_gets_nothing_until_start(emulator, database_url, clock):
    await finish_and_accept_all(emulator, database_url, clock)
    clock.now += dt.timedelta(days=400)
    due = len(reminders_of(database_url))
    emulator.block_user(USER)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        count = len(bot_texts(emulator))
        report = await tick(bot, clock, database_url)
        assert report.blocked >= 1
        await tick(bot, clock, database_url)
        assert len(bot_texts(emulator)) == count
        emulator.unblock_user(USER)
        ana = bot.user(id=USER, language_code="fr")
        await ana.send("/start")
        report = await tick(bot, clock, database_url)
        assert report.sent == due  # nothing was lost while blocked
    assert reminders_of(database_url) == []


async def test_delete_removes_pending_reminders(emulator, database_url, clock):
    await finish_and_accept_all(emulator, database_url, clock)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="fr")
        await ana.send("/delete")
        await ana.tap("Oui, tout effacer")
    storage = open_storage(database_url)
    try:
        assert storage.get_user(f"tg:{USER}") is None
        assert storage.all_pending() == []
    finally:
        storage.close()


async def test_unfinished_checklist_gets_two_nudges_then_silence(
    emulator, database_url, mini_dialogues, clock
):
    async with running_bot(emulator, database_url, mini_dialogues, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        nudges = [r for r in reminders_of(database_url) if r.kind == "nudge"]
        assert [r.ref for r in nudges] == ["nudge-1", "nudge-2"]
        days = [(r.due_at - clock.now).days for r in nudges]
        assert days == [2, 9]  # 3 and 10 days later, at 9:00 local (it is 15:00 in Paris now)
        sent = []
        for nudge in nudges:
            clock.now = nudge.due_at + dt.timedelta(minutes=1)
            report = await tick(bot, clock, database_url, dialogues=mini_dialogues)
            sent.append(report.sent)
        clock.now += dt.timedelta(days=60)
        report = await tick(bot, clock, database_url, dialogues=mini_dialogues)
        assert sent == [1, 1]
        assert report.sent == 0
        assert "isn't finished" in bot_texts(emulator)[-1]


@pytest.mark.parametrize(
    ("tz", "utc_hour"),
    # 9:00 on 2027-04-01: summer time in Paris (UTC+2) and Montreal (UTC-4); Tokyo has none.
    [("Europe/Paris", 7), ("America/Montreal", 13), ("Asia/Tokyo", 0)],
)
async def test_snooze_lands_at_nine_local_in_each_time_zone(
    emulator, database_url, mini_dialogues, tz, utc_hour
):
    # 2027-03-25 10:00 UTC; a week later Paris and Montreal have switched to summer time.
    clock = Clock(dt.datetime(2027, 3, 25, 10, 0, tzinfo=dt.UTC))
    async with running_bot(emulator, database_url, mini_dialogues, clock=clock) as bot:
        ana = bot.user(id=USER, language_code="en")
        await ana.send("/start")
        await ana.send(f"/timezone {tz}")
        storage = open_storage(database_url)
        try:
            user = storage.get_user(f"tg:{USER}")
            reminder = storage.add_reminder(
                user.id, kind="nudge", ref="nudge-1", due_at=clock.now - dt.timedelta(hours=1)
            )
        finally:
            storage.close()
        await ana.tap_data(f"r|{reminder.id}|w1")
        moved = next(r for r in reminders_of(database_url) if r.id == reminder.id)
        local = moved.due_at.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (9, 0)
        assert local.date() == dt.date(2027, 4, 1)
        assert moved.due_at.astimezone(dt.UTC).hour == utc_hour
