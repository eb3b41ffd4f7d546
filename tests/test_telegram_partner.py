"""Both sides of the alliance on Telegram: a manager invites the partner of a project, the
partner consents and walks the shared questions, both get the report on their gaps, comment,
and each side erases their own data. Two users (three, with an intruder) on the emulator."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re

import jsonschema
import pypdf
import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.export.jsondata import SCHEMA_PATH
from bot.storage.base import hash_token
from bot.storage.factory import open_storage
from tests.reminder_fixtures import nearly_done
from tests.telegram_chat import current_question, real_dialogue
from tests.telegram_fixtures import running_bot

ANA, BOB, EVE = 7101, 7102, 7103
LINK = re.compile(r"https://t\.me/alliance_test_bot\?start=([A-Za-z0-9_-]+)")
# A clock that can be moved: the link's expiry is tested by moving it.
NOW = [dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)]


def clock() -> dt.datetime:
    return NOW[0]


@pytest.fixture(autouse=True)
def _reset_clock():
    NOW[0] = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def bot(emulator, database_url):
    await nearly_done(database_url, ANA, "fr")
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=clock) as harness:
        yield harness


async def finished_manager(bot):
    """Ana, the manager: her checklist completed (the last question answered on Telegram)."""
    ana = bot.user(id=ANA, language_code="fr", first_name="Ana")
    await ana.send("/start")
    await ana.tap("Oui")
    return ana


async def invitation_link(ana) -> str:
    await ana.send("/invite")
    found = LINK.findall(" ".join(ana.texts_since_last_send()))
    assert len(found) == 1
    return found[0]


async def walk_as_partner(bob, lang="en"):
    """Bob answers every shared question the other way from Ana (her scales are 4, his 1; her
    yes is his no; her first choice his last): the gaps are wide."""
    dialogue = real_dialogue()
    texts = dialogue.texts[lang]
    done = texts.ui("partner.walk.done")
    asked = []
    for _ in range(40):
        if any(done in text for text in bob.texts_since_last_send()):
            return asked
        qid = current_question(dialogue, lang, bob.last_text())
        question = dialogue.questions[qid]
        asked.append(qid)
        if question.type == "scale":
            await bob.tap("1")
        elif question.type == "yesno":
            await bob.tap(texts.ui("answers.no"))
        elif question.type == "multi":
            await bob.tap(texts.option(question, question.options[-1]))
            await bob.tap(texts.ui("buttons.confirm"))
        else:
            await bob.tap(texts.option(question, question.options[-1]))
    raise AssertionError(f"the partner's walk did not end: {asked}")


async def stored(database_url, key):
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(key)
        if user is None:
            return None
        return user, await storage.user_projects(user.id)
    finally:
        await storage.close()


async def manager_typed_answers(database_url):
    """Every free text Ana typed, but the two names the invitation is about (her company and
    her partner's), which the partner is meant to read."""
    dialogue = real_dialogue()
    storage = open_storage(database_url)
    try:
        user = await storage.get_user(f"tg:{ANA}")
        conversation = await storage.active_conversation(user.id)
        answers = await storage.current_answers(conversation.id)
    finally:
        await storage.close()
    return {
        value
        for qid, value in answers.items()
        if dialogue.questions[qid].type == "text" and qid not in ("company", "partner")
    }


def everything_sent(user) -> list[str]:
    """Every text, caption and document content the bot sent to this user (PDF text
    extracted), as they were sent and as they are now."""
    found = []
    for message in user.messages():
        found.append(message.readable)
        found += [text for text in message.history if text]
        if message.document is not None:
            data = message.document.data
            if data.startswith(b"%PDF"):
                reader = pypdf.PdfReader(io.BytesIO(data))
                found.append("".join(page.extract_text() for page in reader.pages))
            else:
                found.append(data.decode("utf-8", errors="replace"))
    return found


async def test_the_partner_is_invited_consents_walks_and_both_get_the_report(bot, database_url):
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    assert len(token) >= 22  # at least 128 random bits, URL-safe
    assert "14" in " ".join(ana.texts_since_last_send())  # the forwarded text says how long

    bob = bot.user(id=BOB, language_code="en", first_name="Bob")
    await bob.send(f"/start {token}")
    shown = " ".join(bob.texts_since_last_send())
    assert "Dupont SA invites you" in shown  # who
    assert "Martin & Fils" in shown  # which project
    assert "Your partner will see, for each dimension" in shown  # what is shared
    assert "They will not see your answers question by question" in shown  # and what is not
    assert bob.buttons() == ["I accept", "No, thanks"]
    assert await stored(database_url, f"tg:{BOB}") is None  # nothing written before consent

    await bob.tap("I accept")
    assert "Thank you for accepting" in " ".join(bob.texts_since_last_send())
    assert "accepté l’invitation" in ana.last_text()
    asked = await walk_as_partner(bob)
    shared = {q.id for q in real_dialogue().questions.values() if q.shared}
    assert set(asked) <= shared  # the shared questions only
    assert len(asked) >= 10

    # Both have answered: the report on each side, each in their language, from their side.
    bob_report = " ".join(bob.texts_since_last_send())
    assert "Both views on the project" in bob_report
    assert "Both sides' views" in bob_report
    assert "Gaps to discuss" in bob_report
    assert "You / Your partner" in bob_report
    ana_report = " ".join(m.readable for m in ana.messages()[-6:])
    assert "Regards croisés" in ana_report
    assert "Écarts à discuter" in ana_report
    assert "Vous / Votre partenaire" in ana_report
    assert any(m.photo is not None for m in bob.messages())  # the radar, two polygons
    # Trust is private: Bob sees that the sides are far apart, never Ana's rating.
    trust = next(line for line in bob_report.split("\n") if line.startswith("• Trust: 1 /"))
    assert "private" in trust
    assert "2 points apart or more" in trust
    # The partner was offered the project's session reminders.
    assert any("working sessions" in m.readable for m in bob.messages())

    # A comment under a flagged gap: saved, and the other side is told.
    await bob.tap("💬 Comment: Trust")
    assert "Your comment on" in bob.last_text()
    await bob.send("We need a first small project together before trusting more.")
    assert "Comment saved" in bob.last_text()
    assert "We need a first small project together" in ana.last_text()
    # Ana's summary now weighs the gaps: the report follows it, with Bob's comment.
    await ana.send("/summary")
    summary = " ".join(ana.texts_since_last_send())
    assert "📁 Projet : Martin & Fils" in summary
    assert "Regards croisés" in summary
    assert "We need a first small project" in summary
    # /projects shows the same verdict as the summary, the gaps weighed in.
    await ana.send("/projects")
    line = next(x for x in ana.last_text().split("\n") if "Martin & Fils" in x)
    verdict = line.split(" · ")[-1]
    assert line.startswith("▶ Martin & Fils · questionnaire terminé · ")
    assert verdict in summary

    # The partner-safe export: marked as such, both companies named, no private rating.
    await ana.send("/export")
    assert "🤝 Version à partager" in ana.buttons()
    await ana.tap("🤝 Version à partager")
    safe = ana.last_document()
    assert safe.filename == "alliance-partner-safe.pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(safe.data)).pages)
    assert "À partager" in text
    assert "Dupont SA" in text
    assert "Martin & Fils" in text

    # Bob's own copy of the report, and his data.
    await bob.send("/export")
    assert bob.buttons() == ["🗂 JSON", "⚖️ Gaps report"]
    await bob.tap("⚖️ Gaps report")
    assert bob.last_document().filename == "alliance-gaps.pdf"
    await bob.send("/mydata")
    assert bob.last_document().filename == "alliance-bot-mydata.json"
    data = json.loads(bob.last_document().data)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    [project] = data["projects"]
    assert project["role"] == "partner"
    assert [c["body"] for c in project["comments"]] == [
        "We need a first small project together before trusting more."
    ]
    report = {gap["dimension"]: gap for gap in project["shared_report"]["gaps"]}
    assert report["trust"]["manager"] is None  # private: no side's rating
    assert report["trust"]["partner"] is None
    assert report["vision"]["gap"] == 3
    # His own answers only: one walk, in the project.
    assert [c["project_id"] for c in data["conversations"]] == [project["id"]]

    # Nothing Ana typed ever reached Bob: no message, caption, report or file.
    secrets = await manager_typed_answers(database_url)
    assert len(secrets) >= 2  # the free texts of the checklist: key factors, perimeter
    sent_to_bob = "\n".join(everything_sent(bob))
    assert [s for s in secrets if s in sent_to_bob] == []


async def test_a_link_is_single_use_and_a_third_user_learns_nothing(bot, database_url):
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    bob = bot.user(id=BOB, language_code="en")
    await bob.send(f"/start {token}")
    await bob.tap("I accept")
    eve = bot.user(id=EVE, language_code="en")
    for attempt in (token, token[:-1] + ("A" if token[-1] != "A" else "B"), "guessed", "x" * 40):
        replies = await eve.send(f"/start {attempt}")
        assert replies == [
            "This invitation link is not valid: it may have expired, been used already or "
            "been revoked. Ask the person who sent it to you for a new one."
        ]
    # Nor a consent button forged with the used token.
    await eve.tap_data(f"k|yes|{token}", message_id=eve.last_message().message_id)
    assert "not valid" in eve.last_text()
    assert await stored(database_url, f"tg:{EVE}") is None  # nothing written for her
    # Bob using his link again gets no second membership either.
    assert "not valid" in (await bob.send(f"/start {token}"))[0]


async def test_the_token_never_reaches_a_log_line(bot, caplog):
    caplog.set_level(logging.DEBUG)  # PTB logs every Bot API call and update at DEBUG
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    bob = bot.user(id=BOB, language_code="en")
    await bob.send(f"/start {token}")
    await bob.tap("I accept")
    assert caplog.records
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "start=<redacted>" in logged  # the link was logged, without its token
    assert token not in logged
    assert hash_token(token) not in logged


async def tap_on(user, label):
    """Tap a button of an earlier message (the latest one that has it)."""
    for message in reversed(user.messages()):
        for button in message.button_objects():
            if button.get("text") == label:
                return await user.tap_data(button["callback_data"], message.message_id)
    raise AssertionError(f"no message has a button {label!r}")


async def test_revocation_expiry_and_a_declined_invitation(bot, database_url):
    ana = await finished_manager(bot)
    # Under the summary, the offer to invite the partner gives the link too.
    assert any("Et votre partenaire" in m.readable for m in ana.messages())
    await tap_on(ana, "🤝 Inviter le partenaire")
    [first] = LINK.findall(" ".join(ana.texts_since_last_send()))
    # /invite again shows the open invitation and revokes it.
    await ana.send("/invite")
    assert "en cours depuis" in ana.last_text()
    await ana.tap("✖ Révoquer")
    assert "révoquée" in ana.last_text()
    bob = bot.user(id=BOB, language_code="en")
    assert "not valid" in (await bob.send(f"/start {first}"))[0]

    # A new link, expired after 14 days.
    second = await invitation_link(ana)
    NOW[0] += dt.timedelta(days=14)
    assert "not valid" in (await bob.send(f"/start {second}"))[0]

    # A third one, declined: the manager is told, and the link is spent.
    third = await invitation_link(ana)
    await bob.send(f"/start {third}")
    await bob.tap("No, thanks")
    assert "nothing has been saved" in bob.last_text()
    assert "a décliné votre invitation" in ana.last_text()
    assert "not valid" in (await bob.send(f"/start {third}"))[0]
    # The manager's own link, opened by herself.
    fourth = await invitation_link(ana)
    await ana.send(f"/start {fourth}")
    assert "votre propre lien" in ana.last_text()
    # Only hashes are stored.
    storage = open_storage(database_url)
    try:
        assert await storage.find_invitation(hash_token(fourth)) is not None
        assert await storage.find_invitation(fourth) is None
    finally:
        await storage.close()


async def test_the_partner_deletes_and_the_manager_sees_the_partner_withdrew(bot, database_url):
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    bob = bot.user(id=BOB, language_code="en")
    await bob.send(f"/start {token}")
    await bob.tap("I accept")
    await walk_as_partner(bob)
    await bob.send("/delete")
    await bob.tap("Yes, erase everything")
    assert "erased" in bob.last_text()
    assert "Le partenaire s’est retiré du projet « Martin & Fils »" in ana.last_text()
    assert await stored(database_url, f"tg:{BOB}") is None
    # Ana's report now says the partner withdrew; her own answers are all there.
    await ana.send("/summary")
    summary = " ".join(ana.texts_since_last_send())
    assert "Votre partenaire a retiré ses réponses" in summary
    assert "Synthèse" in summary


async def test_the_manager_deletes_everything_and_the_partner_is_told(bot, database_url):
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    bob = bot.user(id=BOB, language_code="en")
    await bob.send(f"/start {token}")
    await bob.tap("I accept")
    await ana.send("/delete")
    await ana.tap("Oui, tout effacer")
    assert bob.last_text() == (
        "The project “Martin & Fils” you took part in was deleted by the manager who ran it;"
        " your answers went with it."
    )
    assert await stored(database_url, f"tg:{ANA}") is None
    user, projects = await stored(database_url, f"tg:{BOB}")
    assert projects == []  # the project and Bob's answers in it are gone
    assert user.current_project_id is None


async def test_the_partner_takes_the_session_reminders_and_stays_in_their_lane(bot):
    ana = await finished_manager(bot)
    token = await invitation_link(ana)
    bob = bot.user(id=BOB, language_code="en")
    await bob.send(f"/start {token}")
    await bob.tap("I accept")
    # Inviting and deleting the project are the manager's.
    assert await bob.send("/invite") == ["Only the manager who created this project can do that."]
    await bob.send("/projects")
    assert "you are the invited partner" in bob.last_text()
    assert "Martin & Fils" in bob.last_text()
    assert "🗑 Delete…" not in bob.buttons()
    # Until Bob is done, Ana's summary says the report will follow; no gaps file yet.
    await ana.send("/summary")
    assert "Votre partenaire n’a pas encore répondu" in " ".join(ana.texts_since_last_send())
    await ana.send("/export")
    assert "⚖️ Rapport des écarts" not in ana.buttons()
    await bob.send("/start")  # back to his question
    await walk_as_partner(bob)
    await tap_on(bob, "Yes, remind me")
    # Ana's plan: four sessions from 11 January 2027; Bob is reminded the eve of each.
    assert bob.last_text() == "⏰ Done: 4 session reminder(s). /reminders shows them."
    replies = await bob.send("/reminders")
    assert replies[0].startswith("📁 Project: Martin & Fils")
    assert "January 10, 2027" in " ".join(replies)
