"""The Markdown report: its structure, and user text that never turns into markup.

No Markdown library is installed, so the structure is read with a line classifier that follows
CommonMark's block rules for the constructs the report uses (ATX headings, list items, block
quotes, thematic breaks), and escaping is checked by round trip.
"""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.export.markdown import render_markdown
from bot.report import Markdown
from tests.test_export_fixtures import (
    ARABIC,
    CJK,
    CURLY,
    EMOJI,
    NOT_YET,
    SAMPLES,
    answers_for,
    content_for,
    load_engine,
    longest_text,
)


@pytest.fixture(scope="module")
def export_engine(tmp_path_factory):
    return load_engine(tmp_path_factory.mktemp("dialogue"))


HOSTILE = (
    "# pas un titre\n- pas une liste\n1. ni ça\n> ni une citation\n---\n"
    "*pas d’italique* et **pas de gras**, `pas de code`, [pas un lien](http://x), "
    "<b>pas de HTML</b>, &amp; pas une entité, ~~pas barré~~, _pas souligné_ ##"
)


def kind(line):
    """The block a line opens, as CommonMark reads its start (None: paragraph text)."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) >= 4 and not line.startswith("    "):
        return None
    for name, pattern in (
        ("heading", r"#{1,6}(\s|$)"),
        ("quote", r">"),
        ("break", r"([-*_])(\s*\1){2,}\s*$"),
        ("bullet", r"[-+*](\s|$)"),
        ("ordered", r"\d{1,9}[.)](\s|$)"),
        ("setext", r"=+\s*$"),
    ):
        if re.match(pattern, stripped):
            return name
    return None


def outline(text):
    """(kind, line) for every line that opens a block."""
    return [(kind(line), line) for line in text.split("\n") if kind(line)]


def unescape(text):
    """What a reader sees of escaped text: backslashes before punctuation gone, hard breaks
    as newlines."""
    text = text.replace("  \n", "\n")
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


@pytest.fixture
def answers(export_engine):
    return answers_for(
        export_engine,
        {
            "company": "Lumière & Fils",
            "partner": f"{CURLY} {EMOJI}",
            "kind": "competitor",
            "coop": NOT_YET,
            "prep_sessions": 2,
            "prep_months": 6,
            "shares_risks": NOT_YET,
            "key_factors": f"{CJK}\n{ARABIC}",
            "note": HOSTILE,
        },
    )


def test_report_structure(export_engine, answers):
    content = content_for(export_engine, answers, reminders=())
    text = render_markdown(content)
    headings = [line for k, line in outline(text) if k == "heading"]
    assert headings[0].startswith("# Rapport d’alliance : Lumière & Fils avec ")
    # The verdict comes first, then what to do, then the diagnosis behind it.
    assert [h for h in headings if h.startswith("## ")] == [
        "## Verdict",
        "## Prochaines étapes",
        "## Diagnostic",
        "## Plan de préparation",
        "## Réponses par étape",
    ]
    stage_titles = [stage.title for stage in content.summary.stages]
    then = ["Ensuite"] if content.summary.diagnosis.then else []
    assert [h[4:] for h in headings if h.startswith("### ")] == [
        "Vos priorités",
        *then,
        "Type d’alliance",
        "Maturité par étape",
        "Points d’attention",
        *stage_titles,
    ]
    assert sum(1 for k, _ in outline(text) if k == "break") == 1  # the footer rule only
    assert not any(k in ("quote", "setext") for k, _ in outline(text))  # the list is complete


def test_every_answer_is_a_list_item(export_engine, answers):
    content = content_for(export_engine, answers)
    text = render_markdown(content)
    items = [line for k, line in outline(text) if k == "bullet"]
    for stage in content.summary.stages:
        for line in stage.answers:
            first_line = Markdown().escape(line.display).split("  \n")[0]
            label = Markdown().escape(line.label)
            assert f"- **{label}** : {first_line}" in [item.rstrip() for item in items]


def test_user_text_never_becomes_markup(export_engine, answers):
    plain = dict(answers, note="une note")
    hostile = render_markdown(content_for(export_engine, answers))
    calm = render_markdown(content_for(export_engine, plain))
    assert [k for k, _ in outline(hostile)] == [k for k, _ in outline(calm)]
    assert HOSTILE.replace("\n", "") in unescape(hostile).replace("\n  ", "").replace("\n", "")
    assert "\\*pas d’italique\\*" in hostile
    assert "\\[pas un lien](http://x)" in hostile
    assert "\\<b>pas de HTML\\</b>" in hostile
    assert "\\&amp;" in hostile


def test_next_steps_plan_and_reminders_carry_their_dates(export_engine, answers):
    import datetime as dt

    reminder = (dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC), "Relancer *vite*")
    content = content_for(export_engine, answers, reminders=[reminder])
    text = render_markdown(content)
    ordered = [line for k, line in outline(text) if k == "ordered"]
    bullets = [line for k, line in outline(text) if k == "bullet"]
    d = content.summary.diagnosis
    assert d.priorities
    for step in d.priorities:  # numbered, with their date
        assert any(step.text in unescape(line) for line in ordered)
    for group in d.then:  # the others, listed under their stage
        for step in group.steps:
            assert any(step.text in unescape(line) for line in bullets)
    plan = content.plan
    assert plan is not None
    # 2 sessions over 6 months were planned: the method's 4, within 3 months, and it says so.
    assert len(plan.sessions) == 4
    assert any("1 décembre 2026" in line and "1/4" in line for line in ordered)
    assert "Nombre de séances prévu : 2" in text
    assert "Durée prévue : 6 mois" in text
    assert "## Rappels programmés" in text
    assert "- 3 décembre 2026 à 09:00 : Relancer \\*vite\\*" in text  # Paris time


def test_english_report(export_engine, answers):
    text = render_markdown(content_for(export_engine, answers, lang="en"))
    assert text.startswith("# Alliance report: Lumière & Fils and ")
    assert "## Answers by stage" in text


def test_interim_report_says_so(export_engine):
    answers = {"company": "Acme"}
    text = render_markdown(content_for(export_engine, answers, done=False))
    assert "> Synthèse provisoire" in text
    assert "**État de la liste** : en cours" in text


def test_longest_answers_keep_every_character(export_engine):
    answers = answers_for(export_engine, text=longest_text)
    text = unescape(render_markdown(content_for(export_engine, answers)))
    flat = re.sub(r"\s+", "", text)
    for sample in SAMPLES:
        assert re.sub(r"\s+", "", sample) in flat


# Markdown.escape (bot/report.py) ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("C:\\dossier 3.5 (voir) snake_case AT&T a < b +33 -5 %", None),  # left alone
        ("a\\*b", "a\\\\\\*b"),
        ("_x_ et *y*", "\\_x\\_ et \\*y\\*"),
        ("# titre", "\\# titre"),
        ("- item", "\\- item"),
        ("1. un", "1\\. un"),
        ("2026) x", "2026\\) x"),
        ("---", "\\---"),
        ("===", "\\==="),
        ("> quote", "\\> quote"),
        ("<b>tag</b>", "\\<b>tag\\</b>"),
        ("&amp; &#123;", "\\&amp; \\&#123;"),
        ("![img](x)", "!\\[img](x)"),
        ("Titre ##", "Titre \\##"),
        ("~~barré~~", "\\~\\~barré\\~\\~"),
        ("`code`", "\\`code\\`"),
        ("fin\\", "fin\\\\"),
        ("un\n  - deux", "un  \n\\- deux"),
    ],
)
def test_escape(text, escaped):
    assert Markdown().escape(text) == (text if escaped is None else escaped)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n")))
def test_escape_round_trips_and_opens_no_block(text):
    escaped = Markdown().escape(text)
    expected = "\n".join(line.lstrip() for line in text.split("\n"))
    assert unescape(escaped) == expected
    for line in escaped.split("  \n"):
        assert kind(line) is None
        assert kind("- " + line) == "bullet"
        assert kind(line[2:] if line.startswith("- ") else line) is None
