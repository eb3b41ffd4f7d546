"""export(): the one entry point, file names, errors, and a full checklist in every format."""

import datetime as dt
import io
import json
import subprocess
import sys

import icalendar
import jsonschema
import pytest
from pypdf import PdfReader

from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.errors import AllianceBotError
from bot.export import FORMATS, MIME_TYPES, ExportError, export, filename, slugify
from bot.export.jsondata import SCHEMA_PATH
from tests.storage_fixtures import add_user
from tests.test_export_fixtures import (
    CJK,
    NOW,
    SAMPLES,
    TODAY,
    answers_for,
    load_engine,
    longest_text,
    open_sqlite,
    record,
)


@pytest.fixture(scope="module")
def export_engine(tmp_path_factory):
    return load_engine(tmp_path_factory.mktemp("dialogue"))


TELEGRAM_DOCUMENT_LIMIT = 50 * 1024 * 1024
REMINDERS = [(dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC), "Relancer le partenaire")]


@pytest.fixture
async def storage(tmp_path):
    opened = await open_sqlite(tmp_path)
    yield opened
    await opened.close()


@pytest.mark.parametrize(
    ("company", "slug"),
    [
        ("Société Générale d’Études", "societe-generale-d-etudes"),
        ("  Œuvre & Fils — Straße  ", "oeuvre-fils-strasse"),
        ("ACME_Corp. (France) S.A.", "acme-corp-france-s-a"),
        (CJK, "projet"),
        ("😀", "projet"),
        ("", "projet"),
        (None, "projet"),
        ("a" * 60, "a" * 40),
        ("word " * 20, "word-word-word-word-word-word-word-word"),
    ],
)
def test_slugify(company, slug):
    assert slugify(company, "projet") == slug


def test_filename():
    day = dt.date(2026, 11, 26)
    assert filename("Acme", "projet", day, "pdf") == "alliance-acme-2026-11-26.pdf"
    assert filename(None, "project", day, "ics") == "alliance-project-2026-11-26.ics"


async def test_every_format(storage, export_engine):
    answers = answers_for(export_engine, {"company": "Lumière & Fils"})
    user = await record(storage, export_engine, answers)
    files = {}
    for fmt in FORMATS:
        name, data = await export(
            fmt,
            storage=storage,
            engine=export_engine,
            user=user,
            today=TODAY,
            reminders=REMINDERS,
            now=NOW,
        )
        assert name == f"alliance-lumiere-fils-2026-11-26.{fmt}"
        assert fmt in MIME_TYPES
        files[fmt] = data
    assert files["pdf"].startswith(b"%PDF-")
    assert "Lumière & Fils" in PdfReader(io.BytesIO(files["pdf"])).pages[0].extract_text()
    assert files["md"].decode("utf-8").startswith("# Rapport d’alliance : Lumière & Fils")
    calendar = icalendar.Calendar.from_ical(files["ics"])
    assert any("Relancer" in str(e["SUMMARY"]) for e in calendar.walk("VEVENT"))
    data = json.loads(files["json"])
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert data["conversations"][0]["answers"]["company"] == "Lumière & Fils"


async def test_english_user_gets_english_files(storage, export_engine):
    user = await record(
        storage, export_engine, answers_for(export_engine, {"company": "😀"}), lang="en"
    )
    name, data = await export("md", storage=storage, engine=export_engine, user=user, today=TODAY)
    assert name == "alliance-project-2026-11-26.md"
    assert data.decode().startswith("# Alliance report: 😀")


async def test_unknown_format(storage, export_engine):
    user = await record(storage, export_engine, {"company": "Acme"})
    with pytest.raises(ExportError, match="unknown export format") as caught:
        await export("docx", storage=storage, engine=export_engine, user=user, today=TODAY)
    assert isinstance(caught.value, AllianceBotError)


@pytest.mark.parametrize("fmt", ["pdf", "md", "ics"])
async def test_a_report_needs_a_conversation(storage, export_engine, fmt):
    user = await add_user(storage, "tg:1", lang="fr", tz="Europe/Paris")
    with pytest.raises(ExportError, match="no active conversation"):
        await export(fmt, storage=storage, engine=export_engine, user=user, today=TODAY)


async def test_the_data_export_needs_no_conversation(storage, export_engine):
    user = await add_user(storage, "tg:1", lang="fr", tz="Europe/Paris")
    name, data = await export(
        "json", storage=storage, engine=export_engine, user=user, today=TODAY
    )
    assert name == "alliance-projet-2026-11-26.json"
    assert json.loads(data)["conversations"] == []


async def test_naive_reminders_are_refused(storage, export_engine):
    user = await record(storage, export_engine, {"company": "Acme"})
    naive = [(dt.datetime(2026, 12, 3, 8, 0), "x")]
    with pytest.raises(ValueError, match="aware"):
        await export(
            "ics", storage=storage, engine=export_engine, user=user, today=TODAY, reminders=naive
        )


def test_importing_the_package_loads_no_heavy_library():
    code = (
        "import sys, bot.export, bot.export.charts, bot.export.pdf; "
        "print(sorted(m for m in ('matplotlib', 'fpdf', 'PIL') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


async def full_checklist_in_every_format(storage, engine, **choices):
    """A checklist answered to the end, every text at its maximum length: every format."""
    answers = answers_for(engine, choices, text=longest_text)
    texts = [value for value in answers.values() if isinstance(value, str) and len(value) > 50]
    assert texts
    assert all(
        len(text) == engine.dialogue.questions[qid].max_length
        for qid, text in answers.items()
        if text in texts
    )
    user = await record(storage, engine, answers)
    sizes = {}
    for fmt in FORMATS:
        name, data = await export(
            fmt, storage=storage, engine=engine, user=user, today=TODAY, reminders=REMINDERS
        )
        assert name.endswith(f".{fmt}")
        assert 0 < len(data) < TELEGRAM_DOCUMENT_LIMIT
        sizes[fmt] = data
    document = "".join(page.extract_text() for page in PdfReader(io.BytesIO(sizes["pdf"])).pages)
    flat = "".join(document.split())
    for sample in SAMPLES[:4]:  # left-to-right samples: their text layer is in logical order
        assert "".join(sample.split()) in flat
    return sizes


async def test_fully_answered_checklist_with_longest_answers(storage, export_engine):
    await full_checklist_in_every_format(storage, export_engine, kind="competitor", coop="notyet")


async def test_real_checklist_in_every_format(storage):
    engine = Engine(load_dialogue())  # a DialogueError here fails the test: dialogues/ is broken
    await full_checklist_in_every_format(storage, engine)
