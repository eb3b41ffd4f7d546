"""Several alliance projects per manager on Telegram: /projects, /new, switching, deleting one,
and every command saying which project it acts on."""

from __future__ import annotations

import datetime as dt
import json

from bot.storage.factory import open_storage
from tests.telegram_fixtures import running_bot
from tests.test_reminders_delivery import Clock, tick


async def projects_of(database_url, telegram_id):
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{telegram_id}")
        if user is None:
            return None
        views = await storage.user_projects(user.id)
        return [(v.project.title, v.answers, v.current) for v in views]
    finally:
        await storage.close()


async def test_a_new_project_asks_for_the_partner_and_starts_a_walk_of_its_own(bot, database_url):
    ana = bot.user(language_code="fr")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/new")
    assert "avec quel partenaire" in ana.last_text()
    await ana.send("x" * 81)  # too long: asked again, nothing created
    assert "80 caractères au plus" in ana.last_text()
    await ana.send("  Beta   SA ")
    replies = ana.texts_since_last_send()
    assert "C’est parti pour le projet « Beta SA »" in replies[0]
    assert "Name? (fr)" in ana.last_text()  # the first question of the new walk
    await ana.send("Acme bis")
    assert await projects_of(database_url, ana.id) == [
        (None, {"company": "Acme"}, False),
        ("Beta SA", {"company": "Acme bis"}, True),
    ]


async def test_projects_lists_progress_and_a_button_switches(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/new Gamma Ltd")  # the name given at once
    assert "Project “Gamma Ltd” is under way" in ana.texts_since_last_send()[0]
    await ana.send("/projects")
    listing = ana.last_text()
    assert "Your alliance projects:" in listing
    assert "• Project of " in listing
    assert "1/7 questions" in listing
    assert "▶ Gamma Ltd · 0/7 questions" in listing
    assert ana.buttons()[1:] == ["▶ Gamma Ltd", "➕ New project", "🗑 Delete…"]
    await ana.tap("Project of")
    replies = ana.texts_since_last_send()
    assert replies[0].startswith("You are now working on the project “Project of ")
    assert "Kind? (en)" in ana.last_text()  # where that walk stood
    await ana.send("/summary")
    assert ana.texts_since_last_send()[0].startswith("📁 Project: Project of ")
    await ana.send("/reminders")
    assert ana.texts_since_last_send()[0].startswith("📁 Project: Project of ")
    await ana.send("/export")
    assert ana.last_text().startswith("📁 Project: Project of ")
    await ana.send("/mydata")
    document = ana.last_document()
    assert "📁 Project: Project of " in ana.last_message().caption
    data = json.loads(document.data)
    assert len(data["conversations"]) == 2


async def test_a_button_deletes_one_project_and_delete_erases_them_all(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/new Gamma Ltd")
    await ana.send("/projects")
    await ana.tap("🗑 Delete…")
    assert "Which project should be deleted?" in ana.last_text()
    await ana.tap("🗑 Gamma Ltd")
    assert "Permanently delete the project “Gamma Ltd”" in ana.last_text()
    await ana.tap("No, keep it")
    assert ana.last_text() == "Nothing has been deleted."
    await ana.send("/projects")
    await ana.tap("🗑 Delete…")
    await ana.tap("🗑 Gamma Ltd")
    await ana.tap("Yes, delete it")
    replies = ana.texts_since_last_send()
    assert replies[0] == "The project “Gamma Ltd” has been deleted."
    assert "You are now working on the project “Project of " in replies[1]
    assert "Kind? (en)" in ana.last_text()
    assert await projects_of(database_url, ana.id) == [(None, {"company": "Acme"}, True)]
    # A stale delete button of the gone project changes nothing.
    await ana.send("/new Delta")
    await ana.send("/delete")
    await ana.tap("Yes, erase everything")
    assert await projects_of(database_url, ana.id) is None


async def test_a_due_reminder_says_which_project_when_there_are_several(
    emulator, database_url, mini_dialogues
):
    clock = Clock(dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC))
    async with running_bot(emulator, database_url, mini_dialogues, clock=clock) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        storage = open_storage(database_url)
        try:
            user = await storage.get_user(f"tg:{ana.id}")
            [first] = await storage.user_projects(user.id)
            due = clock.now - dt.timedelta(minutes=1)
            await storage.add_reminder(
                user.id,
                kind="nudge",
                ref="nudge-test",
                due_at=due,
                conversation_id=first.conversation.id,
            )
            await tick(bot, clock, database_url, mini_dialogues)
            assert not ana.last_text().startswith("📁")  # one project: nothing to tell apart
            await ana.send("/new Gamma Ltd")
            await storage.add_reminder(
                user.id,
                kind="nudge",
                ref="nudge-test-2",
                due_at=due,
                conversation_id=first.conversation.id,
            )
        finally:
            await storage.close()
        await tick(bot, clock, database_url, mini_dialogues)
        assert ana.last_text().startswith("📁 Project: Project of ")
        assert "checklist isn't finished" in ana.last_text()


async def test_forged_buttons_reach_no_one_elses_project(bot, database_url):
    ana = bot.user(language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    eve = bot.user(language_code="en")
    await eve.send("/start")
    storage = open_storage(database_url)
    try:
        owner = await storage.get_user(f"tg:{ana.id}")
        theirs = owner.current_project_id
    finally:
        await storage.close()
    for data in (f"j|go|{theirs}", f"j|ask|{theirs}", f"j|rm|{theirs}"):
        await eve.tap_data(data, message_id=eve.last_message().message_id)
        assert eve.last_text() == "This project no longer exists."
    await eve.tap_data(f"g|{theirs}|trust", message_id=eve.last_message().message_id)
    assert eve.last_text() == "This gap is no longer flagged: nothing was saved."
    await eve.tap_data(f"i|renew|{theirs}", message_id=eve.last_message().message_id)
    assert "Please answer the latest question" in eve.last_text()
    assert await projects_of(database_url, ana.id) == [(None, {"company": "Acme"}, True)]
