"""Usage analytics on their own (pure): starts, completion, median time, the funnel, red flags,
"not yet" answers, languages, and figures hidden under the admin view's threshold."""

from __future__ import annotations

import datetime as dt

from bot.advisors.analytics import analyse
from bot.dialogue.model import DONE
from bot.storage.base import Conversation, ProjectFacts
from tests.web_fixtures import ENGINE, NOW, walk

ORDER = list(ENGINE.dialogue.questions)


def fact(
    user_id: int,
    *,
    stop_at: int | None = None,
    days: float = 0,
    lang: str = "fr",
    not_yet: frozenset[str] = frozenset(),
) -> ProjectFacts:
    state, answers = walk({"company": f"Firm {user_id}"}, stop_at=stop_at, not_yet=not_yet)
    finished = NOW + dt.timedelta(days=days) if state["at"] == DONE else None
    conversation = Conversation(
        user_id, user_id, ENGINE.dialogue.id, state, 2, NOW, NOW, finished, True, user_id
    )
    return ProjectFacts(user_id, lang, conversation, answers)


def test_counts_rates_and_median():
    facts = [fact(1, days=2), fact(2, days=4), fact(3, days=30), fact(4, stop_at=5, lang="en")]
    figures = analyse(facts, ENGINE, lang="fr", today=NOW.date())
    assert figures.starts.value == 4
    assert figures.managers.value == 4
    assert figures.finished.value == 3
    assert figures.completion_rate.value == 75
    assert figures.median_days.value == 4
    assert [(c.key, c.count.value) for c in figures.languages] == [("fr", 3), ("en", 1)]
    assert not any(f.hidden for f in (figures.starts, figures.finished, figures.completion_rate))


def test_the_funnel_follows_the_walk_and_shows_where_projects_stop():
    facts = [fact(1), fact(2, stop_at=3), fact(3, stop_at=3), fact(4, stop_at=10)]
    funnel = analyse(facts, ENGINE, lang="fr", today=NOW.date()).funnel
    assert [step.question_id for step in funnel] == ORDER
    reached = [step.reached.value for step in funnel]
    assert reached == sorted(reached, reverse=True)  # a funnel never widens
    assert reached[0] == 4
    assert reached[-1] == 1
    stopped = {step.question_id: step.stopped.value for step in funnel if step.stopped.value}
    assert sum(stopped.values()) == 3
    assert funnel[0].number == "1.1"


def test_not_yet_answers_and_red_flags_are_counted():
    letter = "confidentiality_letter"
    facts = [fact(1, not_yet=frozenset({letter})), fact(2, not_yet=frozenset({letter})), fact(3)]
    figures = analyse(facts, ENGINE, lang="en", today=NOW.date())
    counted = {c.key: c.count.value for c in figures.not_yet}
    assert counted == {letter: 2}
    assert figures.red_flags  # the walk's typed answers raise some
    values = [c.count.value for c in figures.red_flags]
    assert values == sorted(values, reverse=True)
    assert all(c.label for c in figures.red_flags)


def test_the_threshold_hides_every_figure_resting_on_too_few_managers():
    few = [fact(n) for n in range(1, 4)]
    figures = analyse(few, ENGINE, lang="fr", today=NOW.date(), threshold=5)
    assert figures.starts.hidden
    assert figures.completion_rate.hidden
    assert figures.median_days.hidden
    assert all(step.reached.hidden for step in figures.funnel)
    assert all(c.count.hidden for c in figures.languages)
    many = [fact(n) for n in range(1, 7)] + [fact(7, stop_at=4)]
    figures = analyse(many, ENGINE, lang="fr", today=NOW.date(), threshold=5)
    assert not figures.starts.hidden
    assert not figures.completion_rate.hidden
    assert figures.funnel[0].reached.value == 7
    [alone] = [step for step in figures.funnel if step.stopped.value]
    assert alone.stopped.users == 1
    assert alone.stopped.hidden  # one manager stopped there: not shown
    # Several projects of one manager are one manager.
    same = [fact(1) for _ in range(6)]
    figures = analyse(same, ENGINE, lang="fr", today=NOW.date(), threshold=5)
    assert figures.starts.value == 6
    assert figures.starts.hidden
