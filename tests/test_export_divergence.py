"""The divergence report as the readers get it: in the chat (HTML), as Markdown and as a PDF,
and the partner-safe export a manager forwards to the partner or a lawyer.

The partner-safe export is searched as a reader would search it: its whole text, for every
private thing the manager typed or rated.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re

import pypdf
import pytest

from bot.dialogue.divergence import MANAGER, PARTNER, SHARED, Comment, divergence
from bot.dialogue.engine import State
from bot.dialogue.model import DONE
from bot.dialogue.partner import PartnerWalks
from bot.divergence_report import render_divergence, render_own_answers
from bot.export.content import build_content
from bot.export.divergence import (
    divergence_content,
    divergence_section_markdown,
    render_divergence_markdown,
    render_divergence_pdf,
)
from bot.export.markdown import render_markdown
from bot.export.pdf import render_pdf
from bot.export.pool import RenderPool
from bot.report import Html
from tests.test_advice import TODAY, WELL_PREPARED_SUPPLIER
from tests.test_divergence import DIALOGUE, ENGINE, SAWMILL_WARY

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
# The joinery's manager, with private words of their own on top of the well-prepared profile.
MANAGER_ANSWERS = {
    **WELL_PREPARED_SUPPLIER,
    "perimeter": "Chêne massif pour l’atelier de Nancy, hors contrats publics",
    "key_factors": "Délais tenus malgré la sécheresse de 2025",
    "trust": 5,  # the manager trusts fully; the sawmill rates 2
    "values_convergence": 3,  # the sawmill rates 4: close
    "fit_gaps": ["availability"],  # the manager's own doubt
}
COMMENTS = (
    Comment("trust", MANAGER, "Parlons-en franchement <mardi>"),
    Comment("trust", PARTNER, "Un ancien client nous a déçus"),
)


@pytest.fixture(scope="module")
def comparison():
    return divergence(DIALOGUE, MANAGER_ANSWERS, SAWMILL_WARY, "fr", TODAY)


def safe_files(comparison):
    content = divergence_content(comparison.view(SHARED), DIALOGUE.texts["fr"], COMMENTS)
    markdown = render_divergence_markdown(content)
    pdf = render_divergence_pdf(content, now=NOW)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return markdown, " ".join(text.split())


def private_words(texts):
    """What the manager's own report says that no one else may read: typed answers, the
    private questions and the labels of the answers given, red flags, the verdict."""
    path = ENGINE.walker.path(MANAGER_ANSWERS)
    summary = ENGINE.summary(ENGINE.new_state(), MANAGER_ANSWERS, "fr", TODAY)
    words = [MANAGER_ANSWERS["perimeter"], MANAGER_ANSWERS["key_factors"]]
    words += [texts.question(qid) for qid in ("trust", "values_convergence", "fit_gaps")]
    words.append(
        texts.option(DIALOGUE.questions["fit_gaps"], "availability")
    )  # "Ma disponibilité"
    words += [flag.text for flag in summary.diagnosis.red_flags]
    assert summary.diagnosis.verdict is not None
    words.append(summary.diagnosis.verdict.title)
    assert "trust" in path
    return words


def line_of(text: str, label: str) -> str:
    plain = re.sub(r"</?b>", "", text)
    return next(line for line in plain.splitlines() if line.lstrip("-• *").startswith(label))


def test_the_partner_safe_export_holds_no_private_answer_of_the_manager(comparison):
    markdown, pdf = safe_files(comparison)
    texts = DIALOGUE.texts["fr"]
    for document in (markdown, pdf):
        assert "À partager : version sans jugements privés" in document
        for word in private_words(texts):
            assert " ".join(word.split()) not in document, word
    # Trust, values, doubts: no side's rating, only whether the sides are close.
    assert "Confiance : privé / privé (écart de 2 points ou plus)" in markdown
    assert "Valeurs : privé / privé (proches)" in markdown
    assert "Valeurs, compétences, disponibilité : privé / privé (proches)" in markdown
    assert "Confiance privé privé écart de 2 points ou plus" in pdf
    # The shares and the rules of the game are shared: both sides' ratings, by company.
    assert "Dimension · Menuiserie Roux / Scierie des Vosges" in markdown
    assert "Gains attendus : 4 / 5 (écart 1)" in markdown
    # Comments added under a flagged gap are meant for both: named by company.
    assert "Scierie des Vosges : « Un ancien client nous a déçus »" in markdown
    assert "Menuiserie Roux : « Parlons\\-en franchement <mardi> »" not in markdown
    assert "Menuiserie Roux : « Parlons-en franchement \\<mardi> »" in markdown


def test_each_side_sees_its_own_private_rating_and_never_the_others(comparison):
    texts = DIALOGUE.texts["fr"]
    mine = render_divergence(comparison.view(MANAGER), texts, Html(), COMMENTS)
    theirs = render_divergence(comparison.view(PARTNER), texts, Html(), COMMENTS)
    assert "<b>Confiance : 5 / privé (écart de 2 points ou plus)</b>" in mine
    assert "<b>Confiance : 2 / privé (écart de 2 points ou plus)</b>" in theirs
    assert "Valeurs : 3 / privé (proches)" in mine
    assert "Valeurs : 4 / privé (proches)" in theirs
    # Not one rating of the other side's private dimensions, in any line.
    for label in ("Confiance", "Valeurs :", "Valeurs, compétences"):
        assert re.search(r"/ \d", line_of(mine, label)) is None
        assert re.search(r"/ \d", line_of(theirs, label)) is None
    # The comments, escaped, each side named from the reader's side.
    assert "• Vous : « Parlons-en franchement &lt;mardi&gt; »" in mine
    assert "• Votre partenaire : « Parlons-en franchement &lt;mardi&gt; »" in theirs
    # The method's reason under the flagged gap, and the agenda item dated.
    assert "Pourquoi c’est important (préparation · valeurs et confiance)" in mine
    assert "Mettre « Confiance » à l’ordre du jour de votre prochaine séance (d’ici le 21" in mine


def test_a_comparison_must_be_viewed_before_it_is_shown(comparison):
    texts = DIALOGUE.texts["fr"]
    with pytest.raises(ValueError, match="view"):
        render_divergence(comparison, texts, Html())
    with pytest.raises(ValueError, match="view"):
        divergence_content(comparison, texts)
    with pytest.raises(ValueError, match="language"):
        divergence_content(comparison.view(MANAGER), DIALOGUE.texts["en"])


def test_while_the_partner_has_not_answered_or_withdrew():
    texts = DIALOGUE.texts["en"]
    waiting = divergence(DIALOGUE, MANAGER_ANSWERS, None, "en", TODAY).view(MANAGER)
    assert texts.ui("divergence.waiting") in render_divergence(waiting, texts, Html())
    gone = divergence(DIALOGUE, MANAGER_ANSWERS, SAWMILL_WARY, "en", TODAY, withdrawn=True)
    markdown = render_divergence_markdown(divergence_content(gone.view(MANAGER), texts))
    assert "Your partner has withdrawn their answers" in markdown
    assert "Trust" not in markdown


async def test_the_radar_and_the_pdf_are_drawn_in_a_worker(comparison):
    pool = RenderPool(workers=1)
    try:
        content = divergence_content(comparison.view(MANAGER), DIALOGUE.texts["fr"], COMMENTS)
        picture = await pool.divergence_chart(content)
        assert picture is not None
        png, caption = picture
        assert png.startswith(b"\x89PNG")
        assert caption == "Regards croisés, de 1 à 5"
        document = await pool.divergence_report("pdf", content, now=NOW)
        reader = pypdf.PdfReader(io.BytesIO(document))
        text = "".join(page.extract_text() for page in reader.pages)
        assert "Confiance" in text
        assert any(page.images for page in reader.pages)  # the radar
        workers = await pool.pids()
        assert workers
        assert os.getpid() not in workers
    finally:
        pool.close()


def test_the_managers_own_report_gains_a_section_once_the_partner_answered(comparison):
    texts = DIALOGUE.texts["fr"]
    section = divergence_content(comparison.view(MANAGER), texts, COMMENTS)
    before = build_content(
        ENGINE,
        ENGINE.new_state(),
        MANAGER_ANSWERS,
        lang="fr",
        tz="Europe/Paris",
        today=TODAY,
        uid_seed="seed",
    )
    after = build_content(
        ENGINE,
        ENGINE.new_state(),
        MANAGER_ANSWERS,
        lang="fr",
        tz="Europe/Paris",
        today=TODAY,
        uid_seed="seed",
        divergence=section,
    )
    assert "Regards croisés" not in render_markdown(before)
    markdown = render_markdown(after)
    assert "## Regards croisés" in markdown
    assert "Confiance : 5 / privé (écart de 2 points ou plus)" in markdown
    # The rest of the private report is as it was: the section is added, nothing removed.
    without = markdown.replace(divergence_section_markdown(section) + "\n\n", "")
    assert without == render_markdown(before)
    pdf = render_pdf(after, now=NOW)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Regards croisés" in text
    assert "Parlons-en franchement <mardi>" in text


def test_the_partners_summary_is_their_own_answers_without_a_verdict():
    walks = PartnerWalks(DIALOGUE)
    engine = walks.engine(MANAGER_ANSWERS)
    state = State(at=DONE)
    summary = engine.summary(state, SAWMILL_WARY, "fr", TODAY)
    text = render_own_answers(summary, engine.texts("fr"), Html())
    assert "Confiance : 2/5" in text
    assert "Forme juridique : Partenariat simple" in text
    assert "Verdict" not in text
    assert "Menuiserie Roux" not in text  # nothing of the manager's
