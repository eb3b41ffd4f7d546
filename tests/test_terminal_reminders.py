"""Reminders in the terminal chat: the same offers as on Telegram, stored, in the exports."""

import re

import pytest

from bot.cli import main
from tests.test_cli import run_chat, script


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'chat.sqlite3'}"


def ics_reminders(db, tmp_path, user):
    out = tmp_path / f"{user}.ics"
    assert (
        main(["export", "--user", user, "--format", "ics", "--out", str(out), "--database", db])
        == 0
    )
    text = out.read_text(encoding="utf-8").replace("\r\n ", "")
    return re.findall(r"^SUMMARY:(?:Rappel|Reminder) ?: (.*)$", text, flags=re.MULTILINE)


def test_all_next_steps_from_the_terminal_reach_the_calendar(monkeypatch, capsys, db, tmp_path):
    _, out = run_chat(
        monkeypatch,
        capsys,
        [*script("fr"), "c"],
        "--lang",
        "fr",
        "--user",
        "ana",
        "--database",
        db,
    )
    assert "🔄 Revue de l’alliance programmée le" in out
    assert "  a) Oui, programmer\n  b) Non merci" in out
    assert "  c) Tous à leur date\n  d) Choisir un par un\n  e) Non merci" in out
    assert "⏰ 5 rappels programmés." in out
    summaries = ics_reminders(db, tmp_path, "ana")
    assert len(summaries) == 6  # the review and the five next steps
    assert any(s.startswith("Calez avec votre partenaire un calendrier") for s in summaries)


def test_one_by_one_with_a_typed_date_then_the_list_in_english(monkeypatch, capsys, db, tmp_path):
    lines = [*script("en"), "d", "i", "31/02/2027", "02/15/2027", "o", "/quit"]
    _, out = run_chat(monkeypatch, capsys, lines, "--lang", "en", "--user", "bo", "--database", db)
    assert "  i) Another date…" in out
    assert "Which date? For example 03/15/2027" in out
    assert "Reminder set for Mon, February 15, 2027 at 09:00." in out
    assert "No reminder for this one." in out
    # Later: the list, and the time zone.
    lines = ["/reminders", "/timezone", "Tokyo", "/quit"]
    _, out = run_chat(monkeypatch, capsys, lines, "--user", "bo", "--database", db)
    assert "⏰ Your upcoming reminders (Europe/Paris time):" in out
    assert "2. Mon, February 15, 2027 at 09:00 — " in out
    assert "Done: time zone Asia/Tokyo." in out
    assert len(ics_reminders(db, tmp_path, "bo")) == 2  # the review and the dated step


def test_a_date_awaited_in_the_terminal_is_still_awaited_next_time(monkeypatch, capsys, db):
    run_chat(
        monkeypatch,
        capsys,
        [*script("fr"), "d", "i"],
        "--user",
        "cy",
        "--lang",
        "fr",
        "--database",
        db,
    )
    _, out = run_chat(
        monkeypatch, capsys, ["dans 2 semaines", "/quit"], "--user", "cy", "--database", db
    )
    assert "⏰ Rappel programmé le" in out
    assert "Rappel programmé" in out.split("Bon retour")[1]


def test_a_not_yet_offer_uses_letters_and_the_checklist_goes_on(monkeypatch, capsys, db):
    lines = script("fr")
    notyet_at = next(i for i, line in enumerate(lines) if line == "oui")
    lines[notyet_at] = "pas encore"
    _, out = run_chat(
        monkeypatch,
        capsys,
        [*lines[: notyet_at + 1], "b", "/quit"],
        "--lang",
        "fr",
        "--user",
        "di",
        "--database",
        db,
    )
    assert "⏰ Noté « pas encore »." in out
    assert "  b) +1 semaine" in out
    assert "⏰ Rappel programmé le" in out
