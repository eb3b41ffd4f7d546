"""Usage analytics: how many managers start, finish, where they stop, what they leave for later.

Pure: given the projects' facts (storage's `ProjectFacts`), the engine and today, `analyse`
returns counts only; no name, no answer text. Every figure carries the number of distinct
managers behind it: with `threshold` set (the admin view, over every manager), a figure resting
on fewer managers than that is hidden, so that no figure can point at one person.

Only the walks of the engine's own questionnaire count (a partner's walk follows another). The
funnel follows the walk's order: a project "reached" a question when the walk got to it
(its current question, or any later one; a finished project reached them all), and "stopped"
at the question it waits on, unfinished.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE
from bot.storage.base import ProjectFacts

MakeFigure = Callable[[float, "Iterable[int] | int"], "Figure"]
ADMIN_THRESHOLD = 5  # the fewest managers a figure of the admin view may rest on


@dataclass(frozen=True)
class Figure:
    """A number and the distinct managers behind it; `hidden` when too few to show it."""

    value: float
    users: int
    hidden: bool = False


@dataclass(frozen=True)
class FunnelStep:
    question_id: str
    number: str  # "2.3": stage 2, its third question
    stage_title: str
    label: str  # the question's text, shortened
    reached: Figure
    stopped: Figure


@dataclass(frozen=True)
class Counted:
    key: str
    label: str
    count: Figure


@dataclass(frozen=True)
class Analytics:
    starts: Figure  # projects begun
    managers: Figure  # distinct managers
    finished: Figure
    completion_rate: Figure  # percent of the projects begun
    median_days: Figure  # from start to finish, finished projects only
    funnel: tuple[FunnelStep, ...]
    red_flags: tuple[Counted, ...]  # most frequent first
    not_yet: tuple[Counted, ...]  # questions answered "not yet", most frequent first
    languages: tuple[Counted, ...]
    threshold: int

    @property
    def empty(self) -> bool:
        return self.starts.value == 0


class _Count:
    """Projects and the distinct managers behind them."""

    def __init__(self) -> None:
        self.projects = 0
        self.users: set[int] = set()

    def add(self, user_id: int) -> None:
        self.projects += 1
        self.users.add(user_id)


def analyse(
    facts: Sequence[ProjectFacts],
    engine: Engine,
    *,
    lang: str,
    today: dt.date,
    threshold: int = 0,
) -> Analytics:
    """The analytics of these projects, in `lang`; figures under `threshold` managers hidden."""
    dialogue = engine.dialogue
    texts = engine.texts(lang)
    order = list(dialogue.questions)
    position = {qid: i for i, qid in enumerate(order)}

    def figure(value: float, users: Iterable[int] | int) -> Figure:
        count = users if isinstance(users, int) else len(set(users))
        return Figure(value, count, hidden=threshold > 0 and count < threshold)

    everyone = _Count()
    finished = _Count()
    durations: list[float] = []
    reached: dict[int, _Count] = defaultdict(_Count)
    stopped: dict[int, _Count] = defaultdict(_Count)
    flags: dict[str, _Count] = defaultdict(_Count)
    flag_texts: dict[str, str] = {}
    not_yet: dict[str, _Count] = defaultdict(_Count)
    languages: dict[str, _Count] = defaultdict(_Count)
    for fact in facts:
        conversation = fact.conversation
        if conversation.dialogue_id != dialogue.id:
            continue  # a walk of another questionnaire (an invited partner's)
        everyone.add(fact.user_id)
        languages[fact.lang].add(fact.user_id)
        state = State.load(conversation.state) if "at" in conversation.state else None
        done = conversation.finished_at is not None or (state is not None and state.at == DONE)
        if done:
            finished.add(fact.user_id)
            if conversation.finished_at is not None:
                elapsed = conversation.finished_at - conversation.created_at
                durations.append(elapsed.total_seconds() / 86400)
            furthest = len(order)
        else:
            furthest = position.get(state.at, 0) if state is not None else 0
            stopped[furthest].add(fact.user_id)
        for index in range(min(furthest + 1, len(order))):
            reached[index].add(fact.user_id)
        for qid, value in fact.answers.items():
            if value == NOT_YET and qid in position:
                not_yet[qid].add(fact.user_id)
        if state is not None:
            summary = engine.summary(state, fact.answers, lang, today)
            for flag in summary.diagnosis.red_flags:
                flags[flag.id].add(fact.user_id)
                flag_texts[flag.id] = flag.text

    stage_of = {
        q.id: (n, stage) for n, stage in enumerate(dialogue.stages, 1) for q in stage.questions
    }
    funnel = []
    within: Counter[int] = Counter()
    for index, qid in enumerate(order):
        number, stage = stage_of[qid]
        within[number] += 1
        funnel.append(
            FunnelStep(
                qid,
                f"{number}.{within[number]}",
                texts.get(f"stages.{stage.id}.title"),
                _shorten(texts.question(qid)),
                figure(reached[index].projects, reached[index].users),
                figure(stopped[index].projects, stopped[index].users),
            )
        )
    starts = figure(everyone.projects, everyone.users)
    done_figure = figure(finished.projects, finished.users)
    rate = 100 * finished.projects / everyone.projects if everyone.projects else 0.0
    median = statistics.median(durations) if durations else 0.0
    return Analytics(
        starts=starts,
        managers=figure(len(everyone.users), everyone.users),
        finished=done_figure,
        completion_rate=Figure(rate, starts.users, starts.hidden or done_figure.hidden),
        median_days=figure(median, finished.users),
        funnel=tuple(funnel),
        red_flags=_ranked(flags, flag_texts, figure),
        not_yet=_ranked(not_yet, {q: _shorten(texts.question(q)) for q in not_yet}, figure),
        languages=_ranked(languages, {code: code for code in languages}, figure),
        threshold=threshold,
    )


def _ranked(
    counts: Mapping[str, _Count], labels: Mapping[str, str], figure: MakeFigure
) -> tuple[Counted, ...]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1].projects, item[0]))
    return tuple(
        Counted(key, labels[key], figure(count.projects, count.users)) for key, count in ranked
    )


def _shorten(text: str, limit: int = 70) -> str:
    """The first line of a question, cut at a word under `limit` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + "…"
