"""The real checklist, chatted in French and in English: words, dates, commands, going back.

Driven through the pure engine (no Telegram, no database) with the real dialogue files; the
Telegram and terminal sides of the same behaviour are in test_telegram_chat.py and
test_terminal_chat.py.
"""

import re

import pytest

from bot.dialogue.engine import CONFIRM, EDIT, KEEP, Engine
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import Texts
from bot.dialogue.views import Answered, Ask, Menu, Say, ShowSummary
from tests.test_engine import Chat

TYPED = {"text": "Acme", "choice": "1", "multi": "1", "scale": "4", "yesno": "yes", "number": "4"}
DATE = {"fr": "15/03/2027", "en": "03/15/2027"}


@pytest.fixture(scope="module")
def engine():
    return Engine(load_dialogue(DEFAULT_DIR))


def reach(chat, question_id):
    """Answer the questions on the way, as a manager typing would, up to `question_id`."""
    for _ in range(60):
        if chat.state.at == question_id:
            return chat
        question = chat.engine.dialogue.questions[chat.state.at]
        chat.send(DATE[chat.lang] if question.type == "date" else TYPED[question.type])
    raise AssertionError(f"{question_id} never asked")


def answered(chat):
    return [v for v in chat.views if isinstance(v, Answered)]


# --- Words a manager types -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "typed"),
    [("fr", "Pourquoi ?"), ("fr", "pourquoi"), ("fr", "?"), ("en", "Why?"), ("en", "?")],
)
def test_asking_why_on_a_text_question_explains_and_records_nothing(engine, lang, typed):
    ana = Chat(engine, lang)
    ana.send("Acme")
    step = ana.send(typed)
    assert step.writes == ()
    assert ana.state.at == "partner"
    help_text = engine.texts(lang).question("partner", "help")
    assert help_text in ana.said()
    assert f"“{typed}”" in ana.said() or f"« {typed} »" in ana.said()  # how to mean it literally


@pytest.mark.parametrize(("lang", "quoted"), [("fr", "« Pourquoi ? »"), ("en", '"Why?"')])
def test_a_command_word_between_quotes_is_stored_as_the_answer(engine, lang, quoted):
    ana = Chat(engine, lang)
    ana.send("Acme")
    ana.send(quoted)
    assert ana.answers["partner"] == quoted.strip('«»" ').strip()
    assert ana.state.at == "partner_kind"


@pytest.mark.parametrize(
    ("lang", "typed", "expected"),
    [
        ("fr", "/pourquoi", "help"),
        ("fr", "/aide", "commands"),
        ("fr", "aide", "commands"),
        ("en", "/why", "help"),
        ("en", "help", "commands"),
    ],
)
def test_help_and_why_in_the_users_words(engine, lang, typed, expected):
    ana = Chat(engine, lang)
    step = ana.send(typed)
    assert step.writes == ()
    kinds = [v.kind for v in ana.views if isinstance(v, Say)]
    assert expected in kinds
    if expected == "commands":
        assert "/why" in ana.said()
        assert ana.ask.question_id == "company"  # and the question again


def test_an_english_command_word_is_an_answer_in_french(engine):
    ana = Chat(engine, "fr")
    ana.send("Back")  # a company may be called Back: in French it is not a command word
    assert ana.answers["company"] == "Back"


def test_unknown_slash_word_is_still_unknown(engine):
    ana = Chat(engine, "fr")
    ana.send("/frobnique")
    assert "Je ne connais pas cette commande" in ana.said()


# --- Dates -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "typed", "echo"),
    [
        ("fr", "08/12/2026", "mardi 8 décembre 2026 (lu jour/mois)"),
        ("en", "12/08/2026", "Tuesday, December 8, 2026 (read as month/day)"),
        ("fr", "dans 2 semaines", "jeudi 10 décembre 2026"),
        ("en", "in 2 weeks", "Thursday, December 10, 2026"),
        ("fr", "25/12/2026", "vendredi 25 décembre 2026"),
    ],
)
def test_every_date_is_echoed_as_it_was_read(engine, lang, typed, echo):
    ana = reach(Chat(engine, lang), "prep_first_session")
    ana.send(typed)
    assert answered(ana)[-1].display == echo


@pytest.mark.parametrize(
    ("lang", "typed", "hint"),
    [("fr", "10/13/2026", "13/10/2026"), ("en", "13/10/2026", "10/13/2026")],
)
def test_an_impossible_day_month_order_is_refused_with_a_hint(engine, lang, typed, hint):
    ana = reach(Chat(engine, lang), "prep_first_session")
    step = ana.send(typed)
    assert step.writes == ()
    assert hint in ana.said()
    order = "jour d’abord" if lang == "fr" else "month first"
    assert order.split()[0] in ana.said()
    assert ana.ask.question_id == "prep_first_session"


def test_the_date_hint_says_which_order_is_read(engine):
    assert "jour/mois" in reach(Chat(engine, "fr"), "prep_first_session").ask.hint
    assert "month/day" in reach(Chat(engine, "en"), "prep_first_session").ask.hint


def test_dates_in_the_summary_are_written_in_words(engine):
    ana = reach(Chat(engine, "en"), "prep_sessions")
    ana.send("/summary")
    summary = next(v for v in ana.views if isinstance(v, ShowSummary)).summary
    lines = {a.question_id: a.display for s in summary.stages for a in s.answers}
    assert lines["prep_first_session"] == "March 15, 2027"


# --- Wording of scales and options -------------------------------------------------------------
def test_scale_questions_ask_how_far_not_yes_or_no(engine):
    fr, en = engine.texts("fr"), engine.texts("en")
    for question in engine.dialogue.questions.values():
        if question.type != "scale":
            continue
        assert re.match(r"(À quel point|Quel|Jusqu’où|Combien)", fr.question(question.id)), (
            question.id
        )
        assert en.question(question.id).startswith("How"), question.id


@pytest.mark.parametrize(
    ("lang", "question"),
    [
        ("fr", "À quel point êtes-vous d’accord sur les gains"),
        ("en", "How strong are the assets you bring together"),
    ],
)
def test_yes_no_shaped_questions_now_read_as_scales(engine, lang, question):
    ana = reach(Chat(engine, lang), "shares_gains" if lang == "fr" else "strengths")
    assert ana.ask.text.startswith(question)
    assert ana.ask.type == "scale"
    assert "1" in ana.ask.hint
    assert "5" in ana.ask.hint


@pytest.mark.parametrize(("lang", "label"), [("fr", "Pas encore clair"), ("en", "Not clear yet")])
def test_not_yet_is_worded_for_the_question(engine, lang, label):
    ana = Chat(engine, lang)
    ana.send("Acme")
    ana.send("Globex")
    ana.tap("partner_kind", "competitor")
    ana.send("yes")
    reach(ana, "coop_vs_bigger")
    labels = [o.label for o in ana.ask.options]
    assert label in labels
    assert label in ana.ask.hint
    ana.send("bleu")
    assert label in ana.said()
    ana.tap("coop_vs_bigger", "notyet")
    assert answered(ana)[-1].display == label


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_option_labels_say_what_they_mean(engine, lang):
    texts = engine.texts(lang)
    objectives = engine.dialogue.questions["objectives"]
    labels = {key: texts.option(objectives, key) for key in objectives.options}
    assert "concurrent" in labels["cooperation"] or "competitor" in labels["cooperation"]
    assert "taille" in labels["development"] or "size" in labels["development"]
    assert "maillon" in labels["secure_sector"] or "link" in labels["secure_sector"]


# --- Native English ----------------------------------------------------------------------------
TRANSLATED = [
    "finds its account",
    "do you accept to",
    "taken hold",
    "a real “plus”",
    "shared: ",
    "confidentiality letter",
    "declaration of intent",
    "simple partnership",
    "to take by",
]


def english_texts(engine) -> list[str]:
    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)

    return list(walk(engine.texts("en")._data))


@pytest.mark.parametrize("phrase", TRANSLATED)
def test_english_texts_do_not_read_as_translated_french(engine, phrase):
    found = [text for text in english_texts(engine) if phrase in text.lower()]
    assert found == []


def test_english_speaks_of_an_nda_and_a_letter_of_intent(engine):
    ana = reach(Chat(engine, "en"), "confidentiality_letter")
    assert "non-disclosure agreement (NDA)" in ana.ask.text
    ana.send("no")
    assert "letter of intent" in ana.ask.text


def test_a_share_reads_as_one_label_in_the_summary(engine):
    ana = reach(Chat(engine, "en"), "shares_gains")
    ana.send("/summary")
    summary = next(v for v in ana.views if isinstance(v, ShowSummary)).summary
    labels = [a.label for s in summary.stages for a in s.answers]
    assert "Shared vision" in labels
    assert not [label for label in labels if label.count(":")]


# --- Plurals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "count", "text"),
    [
        ("fr", 1, "1 rappel programmé."),
        ("fr", 0, "0 rappel programmé."),
        ("fr", 3, "3 rappels programmés."),
        ("en", 1, "1 reminder set."),
        ("en", 0, "0 reminders set."),
        ("en", 3, "3 reminders set."),
    ],
)
def test_counts_agree_with_their_noun(engine, lang, count, text):
    texts: Texts = engine.texts(lang)
    assert text in texts.plural("reminders.all_scheduled", count)


# --- Back, keep, skip, summary, edit -----------------------------------------------------------
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_after_back_enter_keeps_the_answer(engine, lang):
    ana = Chat(engine, lang)
    ana.send("Acme")
    ana.send("/back")
    assert ana.ask.current == "Acme"
    step = ana.send("")
    assert step.writes == ()
    assert ana.answers["company"] == "Acme"
    assert ana.ask.question_id == "partner"
    assert "Answer updated" not in ana.said()
    assert "modifiée" not in ana.said()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_after_back_the_keep_button_keeps_the_answer(engine, lang):
    ana = Chat(engine, lang)
    ana.send("Acme")
    ana.send("Globex")
    ana.tap("partner_kind", "supplier")
    ana.send("/back")
    assert ana.ask.question_id == "partner_kind"
    step = ana.tap("partner_kind", KEEP)
    assert step.writes == ()
    assert ana.answers["partner_kind"] == "supplier"
    assert ana.ask.question_id == "new_identity"


@pytest.mark.parametrize(
    ("lang", "question", "reason"),
    [
        ("fr", "company", "synthèse"),
        ("en", "company", "summary"),
        ("fr", "partner_kind", "questions qui"),
        ("en", "partner_kind", "which questions come next"),
        ("fr", "importance", "stratégique ou tactique"),
        ("en", "importance", "strategic or tactical"),
        ("en", "has_strategy", "readiness score"),
    ],
)
def test_skip_on_a_required_question_says_why_not(engine, lang, question, reason):
    ana = reach(Chat(engine, lang), question)
    step = ana.send("/skip")
    assert step.writes == ()
    assert reason in ana.said()
    assert ana.ask.question_id == question


@pytest.mark.parametrize(("lang", "notyet"), [("fr", "« Pas encore »"), ("en", "“Not yet”")])
def test_skip_points_to_not_yet_where_it_is_an_answer(engine, lang, notyet):
    ana = reach(Chat(engine, lang), "prep_first_session")
    ana.send("/skip")
    assert notyet in ana.said()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_summary_mid_way_asks_the_current_question_again(engine, lang):
    ana = reach(Chat(engine, lang), "posture")
    ana.send("/summary")
    kinds = [type(v) for v in ana.views]
    assert kinds[0] is ShowSummary
    assert ana.ask.question_id == "posture"
    assert ana.ask.stage_intro is None  # asked again, not introduced again


@pytest.mark.parametrize(
    ("lang", "stage", "line"),
    [("fr", "Présentation", "Entreprise : Acme"), ("en", "Introduction", "Company: Acme")],
)
def test_edit_lists_current_answers_by_stage(engine, lang, stage, line):
    ana = reach(Chat(engine, lang), "importance")
    ana.send("/edit")
    menu = next(v for v in ana.views if isinstance(v, Menu))
    assert menu.target == EDIT
    assert menu.options[0].label == line
    assert menu.options[0].group == stage
    groups = [o.group for o in menu.options]
    assert groups == sorted(groups, key=groups.index)  # each stage's answers together
    assert len(set(groups)) == 2


@pytest.mark.parametrize(
    ("lang", "typed", "named"), [("fr", "1, 4", "« Aucun »"), ("en", "2, 4", "“None”")]
)
def test_a_multiple_choice_error_names_the_option_that_does_not_combine(
    engine, lang, typed, named
):
    ana = reach(Chat(engine, lang), "fit_gaps")
    step = ana.send(typed)
    assert step.writes == ()
    assert named in ana.said()


def test_ticking_none_then_confirming_still_works(engine):
    ana = reach(Chat(engine, "fr"), "fit_gaps")
    ana.tap("fit_gaps", "values")
    ana.tap("fit_gaps", "none")
    ana.tap("fit_gaps", CONFIRM)
    assert ana.answers["fit_gaps"] == ["none"]


# --- Progress and stage introductions ------------------------------------------------------------
def progress_of(ask: Ask) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", ask.progress)]
    return numbers[2], numbers[3]


@pytest.mark.parametrize("form", ["joint_venture", "partnership"])
def test_progress_counts_the_question_still_to_come(engine, form):
    # Every contract deserves counsel: legal counsel follows the legal structure, whichever it is.
    ana = reach(Chat(engine, "en"), "legal_form")
    position, total = progress_of(ana.ask)
    assert position == total - 1
    ana.tap("legal_form", form)
    assert ana.ask.question_id == "legal_counsel"
    assert progress_of(ana.ask) == (total, total)  # no "7/7" then "8/8"
    ana.tap("legal_counsel", "yes")
    assert ana.ask.question_id == "shares_vision"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_error_does_not_repeat_the_stage_introduction(engine, lang):
    ana = Chat(engine, lang)
    assert ana.ask.stage_intro is not None
    ana.send("x" * 300)  # too long
    assert ana.ask.question_id == "company"
    assert ana.ask.stage_intro is None
    reach(ana, "objectives")
    assert ana.ask.stage_title is not None
    ana.send("Sideways")
    assert ana.ask.question_id == "objectives"
    assert ana.ask.stage_title is None


@pytest.mark.parametrize(
    ("lang", "short", "medium", "why"),
    [
        ("fr", "Moins d’un an", "De 1 à 3 ans", "Un an tout juste"),
        ("en", "Less than 1 year", "1 to 3 years", "Exactly one year"),
    ],
)
def test_a_one_year_collaboration_has_one_bucket(engine, lang, short, medium, why):
    ana = reach(Chat(engine, lang), "duration")
    assert [o.label for o in ana.ask.options][:2] == [short, medium]
    ana.send("/why")
    assert why in ana.said()


def test_the_edit_menu_of_a_whole_checklist_fits_one_telegram_message(engine):
    from bot.telegram.render import MAX_TEXT, menu

    ana = Chat(engine, "fr")
    for _ in range(60):
        if ana.state.at == "done":
            break
        question = engine.dialogue.questions[ana.state.at]
        if question.type == "text":
            ana.send(("Un texte long, " * 40)[: question.max_length])
        else:
            ana.send(DATE["fr"] if question.type == "date" else TYPED[question.type])
    ana.send("/edit")
    view = next(v for v in ana.views if isinstance(v, Menu))
    assert len(view.options) > 35
    message = menu(view)
    assert len(message.text) <= MAX_TEXT
    assert "…" in message.text  # long answers are cut at a word


@pytest.mark.parametrize(
    ("lang", "label"), [("fr", "Je ne sais pas encore"), ("en", "Don't know yet")]
)
def test_not_yet_on_a_scale_reads_as_not_rated_yet(engine, lang, label):
    ana = reach(Chat(engine, lang), "trust")
    assert ana.ask.notyet_label == label
    ana.send(label)
    assert ana.answers["trust"] == "notyet"
    assert answered(ana)[-1].display == label
