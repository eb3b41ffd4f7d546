"""The checklist in a terminal (`alliance-bot chat`), read like a chat: what a manager types,
line by line, and what the terminal prints back."""

import asyncio
import io
import re
import sys

import pytest

from bot.cli import main
from bot.storage.factory import open_storage
from bot.terminal import PASTE_END, PASTE_START


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'chat.sqlite3'}"


@pytest.fixture
def chat(monkeypatch, capsys, db):
    """chat(lang, lines, width=80) -> what the terminal printed."""

    def run(lang, lines, width=80):
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
        status = main(["chat", "--lang", lang, "--user", "ana", "--database", db])
        assert status == 0
        return capsys.readouterr().out

    return run


def stored(db):
    """Ana's current answers, as the database holds them."""

    async def read():
        storage = open_storage(db)
        try:
            user = await storage.get_user("cli:ana")
            conversation = await storage.active_conversation(user.id)
            return await storage.current_answers(conversation.id)
        finally:
            await storage.close()

    return asyncio.run(read())


def after(out, marker):
    return out[out.rindex(marker) :]


@pytest.mark.parametrize(("lang", "why"), [("fr", "pourquoi cette question"), ("en", "why this")])
def test_help_in_the_terminal_lists_why_and_quit_and_no_buttons(chat, lang, why):
    out = chat(lang, ["/help"])
    shown = after(out, "/quit")
    assert "/why" in out
    assert why in out
    help_text = out[out.index("/why") : out.index("/quit") + 20]
    assert not re.search(r"bouton|button|touchez|tap ", help_text, re.IGNORECASE)
    assert shown


@pytest.mark.parametrize(("lang", "typed"), [("fr", "/aide"), ("fr", "aide"), ("en", "help")])
def test_help_words_in_the_users_language(chat, lang, typed):
    out = chat(lang, [typed])
    assert "/quit" in out


@pytest.mark.parametrize(("lang", "typed"), [("fr", "Pourquoi ?"), ("en", "why?")])
def test_why_typed_on_a_text_question_is_not_an_answer(chat, db, lang, typed):
    out = chat(lang, ["Acme", typed])
    assert stored(db) == {"company": "Acme"}
    assert ("Chaque partenaire reste" if lang == "fr" else "Each partner keeps") in out


@pytest.mark.parametrize("width", [40, 60])
def test_lines_wrap_at_word_boundaries_at_the_terminal_width(chat, width):
    out = chat("fr", ["/help", "Acme", "/why"], width=width)
    words = set(out.split())
    for line in out.splitlines():
        line = re.sub(r"^(> )+", "", line)  # the prompt, before what the user typed
        assert len(line) <= width or " " not in line.strip(), line
    # no word cut in two: every piece of a printed line is a word of the texts
    help_words = ["Chaque", "partenaire", "reste", "lui-même", "dans", "une", "alliance"]
    assert set(help_words) <= words


def test_a_pasted_block_answers_one_text_question(chat, db):
    out = chat(
        "en",
        [f"{PASTE_START}Acme Holdings", "Europe division", f"Ltd{PASTE_END}", "Globex"],
    )
    assert stored(db) == {"company": "Acme Holdings Europe division Ltd", "partner": "Globex"}
    assert "What kind of organisation" in out


@pytest.mark.parametrize(("lang", "refusal"), [("fr", "collé 3 lignes"), ("en", "pasted 3 lines")])
def test_a_pasted_block_on_a_choice_question_is_refused(chat, db, lang, refusal):
    out = chat(lang, ["Acme", "Globex", f"{PASTE_START}1", "2", f"3{PASTE_END}", "2"])
    assert refusal in out
    assert stored(db)["partner_kind"] == "distributor"  # the next line, not the pasted ones
    assert "new_identity" not in stored(db)


@pytest.mark.parametrize(
    ("lang", "title"), [("fr", "== Présentation =="), ("en", "== Introduction ==")]
)
def test_the_stage_introduction_is_not_printed_again_after_an_error(chat, lang, title):
    out = chat(lang, ["", "x" * 300])
    assert out.count(title) == 1


@pytest.mark.parametrize(
    ("lang", "typed", "echo"),
    [
        ("fr", "08/12/2026", "→ mardi 8 décembre 2026 (lu jour/mois)"),
        ("en", "12/08/2026", "→ Tuesday, December 8, 2026 (read as month/day)"),
    ],
)
def test_the_terminal_echoes_the_date_it_read(chat, lang, typed, echo):
    lines = ["Acme", "Globex", "1", "1", "1", "1", "4", "4", "1"]
    lines += ["1", "4", "1", "1", "4"]  # up to the first session
    out = chat(lang, [*lines, typed])
    assert echo in out


def test_french_colons_keep_their_space_in_the_summary(chat):
    out = chat("fr", ["Acme", "Globex", "/summary"])
    summary = out[out.index("SYNTHÈSE") :]
    tight = [line for line in summary.splitlines() if re.search(r"[^\s\d]:(\s|$)", line)]
    assert tight == []
    assert "Vos réponses\n------------" in summary


@pytest.mark.parametrize(
    ("lang", "keep"), [("fr", "Entrée pour la garder"), ("en", "press Enter to keep it")]
)
def test_after_back_enter_keeps_the_answer_in_the_terminal(chat, db, lang, keep):
    out = chat(lang, ["Acme", "/back", "", "Globex"])
    assert keep in out
    assert stored(db) == {"company": "Acme", "partner": "Globex"}


def test_edit_in_the_terminal_shows_answers_under_their_stage(chat):
    out = chat("en", ["Acme", "Globex", "1", "/edit"])
    menu = after(out, "Which answer")
    assert "-- Introduction --" in menu
    assert "1. Company: Acme" in menu
    assert "3. Type of partner: Supplier" in menu


def test_a_french_question_mark_is_never_alone_on_a_line(chat):
    out = chat("fr", ["Acme"], width=70)
    assert "?" in out
    assert not [line for line in out.splitlines() if line.strip() in ("?", ":", "»")]
    assert "envisagez-vous cette\nalliance ?" in out
