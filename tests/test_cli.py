"""The `alliance-bot` command: terminal chat (scripted), export, reminders, validate, graph."""

import datetime as dt
import io
import json
import re
import sys

import pytest

from bot.cli import main
from bot.dialogue.engine import Engine, Text
from bot.dialogue.graph import dialogue_doc
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import DONE

ROOT = DEFAULT_DIR.parent
TYPED = {
    "text": "Réponse libre",
    "choice": "1",
    "multi": "1, 2",
    "scale": "4",
    "yesno": "oui",
    "date": "dans 3 semaines",
    "number": "4",
}


def script(lang: str) -> list[str]:
    """The lines a manager types to go through the whole checklist (computed with the engine)."""
    engine = Engine(load_dialogue(DEFAULT_DIR))
    state, lines = engine.new_state(), []
    answers: dict[str, object] = {}

    today = dt.date(2026, 11, 26)
    while state.at != DONE:
        question = engine.dialogue.questions[state.at]
        line = {"company": "Dupont SA", "partner": "Martin SARL"}.get(question.id)
        line = line or TYPED[question.type]
        step = engine.handle(state, answers, Text(line), lang, today)
        assert step.writes, (question.id, line)
        answers.update(dict(step.writes))
        state = step.state
        lines.append(line)
    return lines


def run_chat(monkeypatch, capsys, lines, *args):
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    status = main(["chat", *args])
    return status, capsys.readouterr().out


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'chat.sqlite3'}"


@pytest.mark.parametrize(
    ("lang", "title", "diagnosis"),
    [
        ("fr", "SYNTHÈSE DE VOTRE PROJET D’ALLIANCE", "Diagnostic"),
        ("en", "SUMMARY OF YOUR ALLIANCE PROJECT", "Diagnosis"),
    ],
)
def test_whole_checklist_in_the_terminal(monkeypatch, capsys, db, lang, title, diagnosis):
    lines = script(lang)
    assert len(lines) >= 35
    status, out = run_chat(
        monkeypatch, capsys, lines, "--lang", lang, "--user", "ana", "--database", db
    )
    assert status == 0
    assert title in out
    assert diagnosis in out
    assert "Dupont SA" in out


def test_quit_and_resume_where_one_stopped(monkeypatch, capsys, db):
    lines = script("en")
    run_chat(
        monkeypatch,
        capsys,
        [*lines[:5], "/quit"],
        "--lang",
        "en",
        "--user",
        "bo",
        "--database",
        db,
    )
    status, out = run_chat(monkeypatch, capsys, lines[5:], "--user", "bo", "--database", db)
    assert status == 0
    assert "Welcome back" in out
    assert "SUMMARY OF YOUR ALLIANCE PROJECT" in out


def test_commands_in_the_terminal(monkeypatch, capsys, db):
    lines = [
        "Dupont SA",
        "/back",
        "/why",
        "/summary",
        "/edit",
        "1",
        "Globex",
        "/restart",
        "non",
        "/frob",
        "/delete",
    ]
    status, out = run_chat(
        monkeypatch, capsys, lines, "--lang", "fr", "--user", "cy", "--database", db
    )
    assert status == 0
    assert "Réponse actuelle : Dupont SA" in out
    assert "Quelle réponse voulez-vous modifier ?" in out
    assert "Tout recommencer ?" in out
    assert "D’accord, on continue." in out
    assert "Je ne connais pas cette commande" in out
    assert "Toutes vos données ont été effacées." in out


def test_bad_input_in_the_terminal_is_re_asked(monkeypatch, capsys, db):
    lines = ["Dupont SA", "Martin", "9"]
    _, out = run_chat(monkeypatch, capsys, lines, "--lang", "fr", "--user", "dd", "--database", db)
    assert "ne fait pas partie des choix proposés" in out


def test_export_and_reminders_commands(monkeypatch, capsys, db, tmp_path):
    run_chat(
        monkeypatch, capsys, script("en")[:3], "--lang", "en", "--user", "ed", "--database", db
    )
    out_file = tmp_path / "report.md"
    assert (
        main(
            ["export", "--user", "ed", "--format", "md", "--out", str(out_file), "--database", db]
        )
        == 0
    )
    assert "Dupont SA" in out_file.read_text()
    assert (
        main(
            [
                "export",
                "--user",
                "nobody",
                "--format",
                "md",
                "--out",
                str(out_file),
                "--database",
                db,
            ]
        )
        == 1
    )
    capsys.readouterr()
    assert main(["reminders", "--json", "--database", db]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_validate_ok_and_graph_doc_is_current(capsys):
    assert main(["validate", str(DEFAULT_DIR)]) == 0
    assert "OK" in capsys.readouterr().out
    current = (ROOT / "docs" / "dialogue.md").read_text(encoding="utf-8")
    assert current == dialogue_doc(load_dialogue(DEFAULT_DIR)), (
        "docs/dialogue.md is out of date: run `make graph`"
    )


def test_graph_prints_mermaid(capsys):
    assert main(["graph"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD")
    assert "partner_kind" in out


def test_run_without_token_says_how_to_get_one(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 1
    assert "BotFather" in capsys.readouterr().err


def test_version_prints(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "alliance-bot" in capsys.readouterr().out


def test_advisor_commands(monkeypatch, capsys, db):
    monkeypatch.setenv("WEB_LISTEN", "127.0.0.1")
    monkeypatch.setenv("WEB_PORT", "8090")
    monkeypatch.delenv("WEB_PUBLIC_URL", raising=False)
    assert main(["advisor", "add", "Claire Martin", "--admin", "--database", db]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Advisor Claire Martin \(admin\) added; their code is [A-Z2-9]{8}\.", out)
    first = re.search(r"http://127\.0\.0\.1:8090/login/([A-Za-z0-9_-]{43})\n", out)
    assert first is not None
    assert main(["advisor", "add", "Claire Martin", "--database", db]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["advisor", "link", "Claire Martin", "--database", db]) == 0
    second = re.search(r"/login/([A-Za-z0-9_-]{43})\n", capsys.readouterr().out)
    assert second is not None
    assert second.group(1) != first.group(1)
    assert main(["advisor", "list", "--database", db]) == 0
    assert re.match(r"Claire Martin\t[A-Z2-9]{8}\tadmin\tfr\n", capsys.readouterr().out)
    assert main(["advisor", "remove", "Claire Martin", "--database", db]) == 0
    assert main(["advisor", "link", "Claire Martin", "--database", db]) == 1
    assert "no advisor named 'Claire Martin'" in capsys.readouterr().err
    monkeypatch.setenv("WEB_PUBLIC_URL", "https://advice.example.com/")
    assert main(["advisor", "add", "Marc", "--database", db]) == 0
    assert "https://advice.example.com/login/" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "webhook"), [(["run"], False), (["run", "--webhook"], True), (None, False)]
)
def test_run_starts_the_bot_in_the_mode_asked(monkeypatch, argv, webhook):
    import bot.cli

    started = []
    monkeypatch.setattr(sys, "argv", ["alliance-bot", "run"])
    monkeypatch.setattr(bot.cli, "_start", lambda *, webhook: started.append(webhook) or 0)
    assert main(argv) == 0
    assert started == [webhook]


def test_run_help_still_goes_through_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--webhook" in capsys.readouterr().out
