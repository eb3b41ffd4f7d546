"""Reminders offered and managed on Telegram: after the summary, /reminders, /timezone."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.storage.factory import open_storage
from tests.reliability_support import (
    callback_update,
    keyboard_message,
    message_update,
    webhook_bot,
)
from tests.reminder_fixtures import nearly_done
from tests.support.emulator import TgUser
from tests.telegram_fixtures import running_bot

NOW = dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC)
PARIS = ZoneInfo("Europe/Paris")


def clock():
    return NOW


def refused(emulator):
    """The calls Telegram refused (a 4xx), as "method status description"."""
    return [
        f"{c.method} {c.status} {c.description}" for c in emulator.calls if 400 <= c.status < 500
    ]


async def pending(database_url, user_id):
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{user_id}")
        return await storage.pending_reminders(user.id)
    finally:
        await storage.close()


@pytest.fixture
async def finished(emulator, database_url):
    """A manager who just answered the last question of the real checklist."""
    await nearly_done(database_url, 4242)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=4242, language_code="fr")
        await ana.send("/start")
        await ana.tap("Oui")
        yield ana


async def test_finishing_offers_reminders_and_schedules_the_review(finished, database_url):
    replies = " ".join(finished.texts_since_last_send())
    assert "Synthèse de votre projet" in replies
    assert "Revue de l’alliance programmée" in replies
    assert "Calendrier de préparation avec Martin & Fils" in replies
    assert "séance 1 : 11 janvier 2027" in replies
    assert "prochaines étapes" in replies
    reviews = [r for r in await pending(database_url, 4242) if r.kind == "review"]
    assert len(reviews) == 1
    local = reviews[0].due_at.astimezone(PARIS)
    assert (local.hour, local.minute) == (9, 0)


async def test_the_last_question_tapped_shows_its_answer_and_is_left_alone(finished, emulator):
    """The offers that follow the summary do not touch the question answered last: it
    already shows its answer, without buttons (removing them again would be refused)."""
    answered = [c for c in emulator.calls if c.method == "editMessageText"][-1]
    message = emulator.message(4242, answered.params["message_id"])
    assert "Oui" in message.text
    assert not message.reply_markup
    assert refused(emulator) == []


async def test_all_next_steps_on_their_date(finished, database_url):
    await finished.tap("Tous à leur date")
    assert "rappels programmés" in finished.last_text()
    steps = [r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]
    assert steps
    assert all(r.due_at.astimezone(PARIS).hour == 9 for r in steps)
    assert all(r.due_at > NOW for r in steps)


async def test_choose_step_by_step(finished, database_url):
    await finished.tap("Choisir un par un")
    first = finished.last_text()
    assert "Date suggérée" in first
    await finished.tap("+1 semaine")
    assert "Rappel programmé le" in " ".join(finished.texts_since_last_send())
    steps = [r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]
    assert len(steps) == 1
    assert steps[0].due_at.astimezone(PARIS).date() == dt.date(2026, 12, 3)
    await finished.tap("Autre date…")
    await finished.send("15/02/2027")
    steps = [r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]
    assert len(steps) == 2
    assert dt.date(2027, 2, 15) in {r.due_at.astimezone(PARIS).date() for r in steps}
    await finished.tap("Non merci")
    assert (
        len([r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]) == 2
    )


async def test_typed_date_must_be_valid_and_future(finished, database_url):
    await finished.tap("Choisir un par un")
    await finished.tap("Autre date…")
    await finished.send("31/02/2027")
    assert "pas reconnu de date" in finished.last_text()
    await finished.send("10/13/2027")  # month first: not how French dates are read
    assert "le jour vient d’abord" in finished.last_text()
    assert "{" not in finished.last_text()
    await finished.send("01/01/2020")
    assert "déjà passée" in finished.last_text()
    await finished.send("dans 2 semaines")
    steps = [r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]
    assert steps[0].due_at.astimezone(PARIS).date() == dt.date(2026, 12, 10)


async def test_preparation_calendar(finished, database_url):
    message = [m for m in finished.messages() if "Calendrier de préparation" in m.readable][-1]
    await finished.tap_data("q|yes", message_id=message.message_id)
    assert "rappels de préparation programmés" in finished.last_text()
    kinds = [r.kind for r in await pending(database_url, 4242)]
    assert kinds.count("prep_eve") == 4
    assert kinds.count("checkin") == 4
    assert kinds.count("go_no_go") == 1


async def test_reminders_list_cancel_and_move(finished, database_url):
    await finished.tap("Tous à leur date")
    before = await pending(database_url, 4242)
    await finished.send("/reminders")
    listing = finished.last_text()
    assert "Vos rappels à venir (heure de Europe/Paris)" in listing
    assert "à 09:00" in listing
    await finished.tap("1. ✖ Annuler")
    after = await pending(database_url, 4242)
    assert len(after) == len(before) - 1
    await finished.send("/reminders")
    await finished.tap("1. 📅 Déplacer")
    await finished.tap("+1 mois")
    moved = await pending(database_url, 4242)
    assert dt.date(2026, 12, 26) in {r.due_at.astimezone(PARIS).date() for r in moved}


async def test_timezone_command(finished, database_url):
    await finished.send("/timezone")
    assert "Europe/Paris" in finished.last_text()
    await finished.send("Atlantis")
    assert "ne connais pas ce fuseau" in finished.last_text()
    await finished.send("Tokyo")
    assert "Asia/Tokyo" in finished.last_text()
    await finished.send("/timezone Montréal")
    assert "America/Toronto" in finished.last_text()
    storage = open_storage(database_url)
    try:
        assert (await storage.get_user("tg:4242")).tz == "America/Toronto"
    finally:
        await storage.close()


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Londres", "Europe/London"),
        ("Le Caire", "Africa/Cairo"),
        ("La Réunion", "Indian/Reunion"),
        ("Belgique", "Europe/Brussels"),
        ("Morocco", "Africa/Casablanca"),
        ("Genève", "Europe/Zurich"),
    ],
)
async def test_city_and_country_names_in_french_or_english(finished, typed, zone):
    await finished.send(f"/timezone {typed}")
    assert zone in finished.last_text()


async def test_not_yet_answer_offers_a_reminder_for_that_point(bot, emulator, database_url):
    ana = bot.user(id=9090, language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.tap("Alpha-en")
    await ana.send("1")
    await ana.tap("3")
    await ana.send("/skip")
    await ana.tap("Not yet")
    replies = ana.texts_since_last_send()
    offer = next(r for r in replies if "Noted as “not yet”" in r)
    assert "Decide on: Start-en" in offer
    assert any("Sessions? (en)" in r for r in replies)  # the checklist goes on meanwhile
    assert refused(emulator) == []  # the question tapped is edited once, not stripped again
    await ana.tap("+1 week")
    todo = await pending(database_url, 9090)
    assert [(r.kind, r.ref) for r in todo if r.kind == "todo"] == [("todo", "when_start")]
    assert "Reminder set for" in " ".join(ana.texts_since_last_send())
    await ana.send("4")  # the answer still goes to the checklist's current question
    assert "Sessions-en: 4" in " ".join(ana.texts_since_last_send())


async def test_the_count_of_reminders_set_agrees_with_its_noun(finished, database_url):
    await finished.tap("Tous à leur date")
    steps = [r for r in await pending(database_url, 4242) if r.kind in ("next_step", "todo")]
    assert len(steps) > 1
    assert f"⏰ {len(steps)} rappels programmés. /reminders pour les voir" in finished.last_text()
    await finished.send("/reminders")
    assert re.search(
        r"\b(lun|mar|mer|jeu|ven|sam|dim)\. \d{1,2} \w+ 20\d\d à 09:00", finished.last_text()
    )


async def current_answers(database_url, user_id):
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{user_id}")
        return await storage.current_answers((await storage.active_conversation(user.id)).id)
    finally:
        await storage.close()


async def test_a_date_asked_for_is_still_awaited_after_a_restart(emulator, database_url):
    await nearly_done(database_url, 4343, until="intent_declaration")
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=4343, language_code="fr")
        await ana.send("/start")
        await ana.tap("Pas encore")
        await ana.tap("Autre date…")
        assert "Quelle date ?" in ana.last_text()
    # A new process on the same database: nothing of the first one is left in memory.
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as bot:
        ana = bot.user(id=4343, language_code="fr")
        await ana.send("15/02/2027")
        assert "Rappel programmé le lun. 15 février 2027 à 09:00" in ana.texts_since_last_send()[0]
        steps = [r for r in await pending(database_url, 4343) if r.kind in ("next_step", "todo")]
        assert [(r.ref, r.due_at.astimezone(PARIS).date()) for r in steps] == [
            ("draft_intent_declaration", dt.date(2027, 2, 15))
        ]
        answers = await current_answers(database_url, 4343)
        assert answers["intent_declaration"] == "notyet"
        assert "perimeter" not in answers  # the date did not answer the checklist's question
        await ana.send("Le grand Ouest")  # which the checklist still asks, and now gets
    assert (await current_answers(database_url, 4343))["perimeter"] == "Le grand Ouest"


async def test_a_reminder_button_forged_in_content_gets_a_polite_answer(finished, database_url):
    before = await pending(database_url, 4242)
    for data in ("r|abc|done", "r|1|explode", "p|maybe", "f|x|evolving|yes"):
        await finished.tap_data(data)
        assert finished.texts_since_last_send() == []  # a pop-up notice, no message
        assert "question déjà traitée" in finished.last_callback().answer_text
    assert await pending(database_url, 4242) == before


async def test_a_date_asked_on_one_replica_is_typed_on_another(emulator, database_url):
    """Two webhook replicas on one database: whichever gets the typed date knows it was asked."""
    await nearly_done(database_url, 4545, until="intent_declaration")
    ana = TgUser(id=4545, first_name="Ana", language_code="fr")
    async with (
        webhook_bot(emulator, database_url, DEFAULT_DIR) as one,
        webhook_bot(emulator, database_url, DEFAULT_DIR) as two,
    ):

        async def tap(replica, data):
            message_id = keyboard_message(emulator, ana.id, data)
            assert message_id is not None, data
            assert await replica.post(callback_update(emulator, ana, message_id, data)) == 200

        assert await one.post(message_update(emulator, ana, "/start")) == 200
        await tap(two, "a|intent_declaration|notyet")
        await tap(one, "n|draft_intent_declaration|date")
        assert await two.post(message_update(emulator, ana, "15/02/2027")) == 200
    said = [m.readable for m in emulator.messages(ana.id, from_bot=True)]
    assert said[-1] == "⏰ Rappel programmé le lun. 15 février 2027 à 09:00."
    steps = [r for r in await pending(database_url, 4545) if r.kind == "next_step"]
    assert [r.due_at.astimezone(PARIS).date() for r in steps] == [dt.date(2027, 2, 15)]
    assert "perimeter" not in await current_answers(database_url, 4545)
