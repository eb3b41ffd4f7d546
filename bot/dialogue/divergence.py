"""Where the two partners see the alliance differently: the divergence between two answer sets.

The manager and the invited partner answer the same shared questions (`shared: true` in
checklist.yaml). Per dimension of the method (values, trust, the three questions, the five
shares, the rules of the game, evolution and integration, the legal form), each side's answers
are placed on one scale from 1 to 5; the gap between the two sides is the advice. A gap of
`THRESHOLD` points or more is flagged with the method's reason and becomes a next step: put the
dimension on the agenda of the next working session.

Some ratings are private judgements (how far one side trusts the other, its values, its
doubts): `Divergence.view(viewer)` gives what one reader may see, and the renderers only accept
such a view. docs/divergence.md describes the scale, the thresholds and what each side sees.

Pure: no storage, no clock (`today` is passed in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.dialogue import parsing
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.diagnosis import Diagnosis, NextStep, RedFlag, rejudge
from bot.dialogue.model import SEVERITIES, Dialogue, Question, Texts
from bot.dialogue.plan import plan_preparation

LOW, HIGH = 1.0, 5.0  # the common scale every answer is placed on
THRESHOLD = 2.0  # a gap of this many points or more is flagged
COMMENT_MAX = 300  # characters: a short comment under a flagged gap
AGENDA_DAYS = 14  # a flagged gap's session, when the manager has not dated the sessions
# What a Divergence is about: both sides answered, the partner has not (yet), or withdrew.
READY, WAITING, WITHDRAWN = "ready", "waiting", "withdrawn"
# Who reads a view: one of the two sides, or anyone (the partner-safe export).
MANAGER, PARTNER, SHARED = "manager", "partner", "shared"
VIEWERS = (MANAGER, PARTNER, SHARED)
_BOTH = "both"  # the unmasked comparison, for computing only: renderers refuse it


@dataclass(frozen=True)
class Dimension:
    """One point of the method both sides rate.

    `questions` are compared where both sides answered them; `severity` is how much a flagged
    gap weighs in the verdict and the priorities; `private` marks a rating that is one side's
    own judgement of the other (trust, values, doubts): the other side and the partner-safe
    export see only whether the two sides are close, never the rating."""

    id: str
    questions: tuple[str, ...]
    severity: str
    private: bool = False


DIMENSIONS = (
    Dimension("values", ("values_convergence",), "critical", private=True),
    Dimension("trust", ("trust",), "critical", private=True),
    Dimension("fit", ("fit_gaps",), "major", private=True),
    Dimension("vision", ("shares_vision",), "major"),
    Dimension("gains", ("shares_gains",), "major"),
    Dimension("risks", ("shares_risks",), "major"),
    Dimension("powers", ("shares_powers",), "major"),
    Dimension("identity", ("shares_identity",), "major"),
    Dimension("rules", ("rules_roles", "rules_practicalities"), "major"),
    Dimension("evolution", ("evolution_plan", "integration_level", "integration_steps"), "major"),
    Dimension("legal_form", ("legal_form",), "major"),
)


@dataclass(frozen=True)
class Gap:
    """One dimension compared. A rating is None when that side has not rated it (or, in a
    view, when the reader may not see it: `masked`)."""

    dimension: str
    label: str  # "Confiance", "Trust"
    manager: float | None
    partner: float | None
    gap: float | None  # None when one side is missing, or masked
    flagged: bool  # the sides are THRESHOLD points apart or more
    severity: str
    private: bool
    source: str  # the passage of the method, as a short label
    reason: str  # why a gap here matters
    compared: bool  # both sides rated it
    masked: bool = False  # a view hides a private rating


@dataclass(frozen=True)
class Comment:
    """A short comment a side added under a flagged gap."""

    dimension: str
    side: str  # MANAGER or PARTNER
    text: str


@dataclass(frozen=True)
class Divergence:
    """The comparison, in one language. Build it with `divergence()`; show `view(viewer)`."""

    status: str  # READY, WAITING or WITHDRAWN
    lang: str
    date: dt.date
    company: str | None  # the manager's company and the partner's, as the manager named them
    partner: str | None
    gaps: tuple[Gap, ...]  # every dimension of DIMENSIONS the dialogue has, in that order
    next_steps: tuple[NextStep, ...]  # one per flagged gap, most severe first
    viewer: str = _BOTH

    @property
    def flagged(self) -> tuple[Gap, ...]:
        return tuple(gap for gap in self.gaps if gap.flagged)

    @property
    def compared(self) -> tuple[Gap, ...]:
        return tuple(gap for gap in self.gaps if gap.compared)

    def view(self, viewer: str) -> Divergence:
        """What `viewer` may read: MANAGER or PARTNER see their own ratings and, on a private
        dimension, only whether the other side is close; SHARED (the partner-safe export) shows
        no side's private rating at all. Gaps and next steps are kept."""
        if viewer not in VIEWERS:
            raise ValueError(f"viewer must be one of {', '.join(VIEWERS)}, not {viewer!r}")
        if self.viewer != _BOTH:
            raise ValueError("a view cannot be viewed again: view the full comparison")
        gaps = []
        for gap in self.gaps:
            if gap.private:
                gap = replace(
                    gap,
                    manager=gap.manager if viewer == MANAGER else None,
                    partner=gap.partner if viewer == PARTNER else None,
                    gap=None,
                    masked=True,
                )
            gaps.append(gap)
        return replace(self, gaps=tuple(gaps), viewer=viewer)


def new_comment(comparison: Divergence, dimension: str, side: str, text: str) -> Comment:
    """A side's comment under a flagged gap, cleaned as a free-text answer is.

    Raises:
        ValueError: `dimension` is not a flagged gap of this comparison, or `side` is neither
            MANAGER nor PARTNER (a stale button: tell the user, change nothing).
        parsing.ParseError: the text is empty ("empty") or longer than COMMENT_MAX characters
            ("too_long"): `ui.errors.<reason>` says so, with `max_length=COMMENT_MAX`.
    """
    if side not in (MANAGER, PARTNER):
        raise ValueError(f"a comment is written by the manager or the partner, not {side!r}")
    if dimension not in {gap.dimension for gap in comparison.flagged}:
        raise ValueError(f"{dimension!r} is not a flagged gap of this comparison")
    return Comment(dimension, side, parsing.normalize_text(text, max_length=COMMENT_MAX))


def rating(question: Question, value: Any) -> float | None:
    """One answer on the common scale from 1 to 5; None when it says nothing to compare.

    * scale: its position between its bounds (a 1-5 scale keeps its value);
    * yes/no: yes 5, no 1, "not yet" 2 (as the readiness scores it: a quarter of the way);
    * multiple choice of doubts (options scored 0, like fit_gaps): 5 without any, 1 with all;
    * single choice: its option's place in the checklist's order (the legal forms run from the
      simple partnership to the merger), the first 1 and the last 5;
    * "not yet" on any other type, or no answer: None.
    """
    if value is None:
        return None
    if question.type == "yesno":
        return {"yes": HIGH, "no": LOW, NOT_YET: LOW + (HIGH - LOW) / 4}.get(value)
    if value == NOT_YET:
        return None
    if question.type == "scale" and isinstance(value, int) and not isinstance(value, bool):
        low, high = question.minimum or 1, question.maximum or 5
        return _on_scale((value - low) / (high - low))
    if question.type == "choice" and value in question.options and len(question.options) > 1:
        return _on_scale(question.options.index(value) / (len(question.options) - 1))
    if question.type == "multi" and isinstance(value, list):
        score = question.score if isinstance(question.score, Mapping) else {}
        doubts = [option for option in question.options if score.get(option) == 0]
        if not doubts:
            return None
        ticked = sum(option in value for option in doubts)
        return _on_scale(1 - ticked / len(doubts))
    return None


def divergence(
    dialogue: Dialogue,
    manager_answers: Mapping[str, Any],
    partner_answers: Mapping[str, Any] | None,
    lang: str,
    today: dt.date,
    *,
    withdrawn: bool = False,
) -> Divergence:
    """Compare the manager's answers with the partner's.

    Args:
        dialogue: the checklist (the full one, not the partner's walk).
        manager_answers: the manager's current answers.
        partner_answers: the partner's current answers; None when the partner has not answered
            (or not yet accepted the invitation).
        lang: the reader's language ("fr", "en").
        today: the reader's today; the next steps are dated from it.
        withdrawn: the partner erased their answers (/delete): nothing is compared.

    Returns:
        A Divergence whose status is WITHDRAWN, WAITING (no dimension rated by both sides yet)
        or READY. Show it through `view()`.
    """
    texts = dialogue.texts.get(lang) or dialogue.texts["fr"]
    company, partner = _name(manager_answers, "company"), _name(manager_answers, "partner")
    if withdrawn:
        return Divergence(WITHDRAWN, texts.lang, today, company, partner, (), ())
    theirs = partner_answers or {}
    gaps = tuple(
        _compare(dialogue, dimension, manager_answers, theirs, texts)
        for dimension in DIMENSIONS
        if all(qid in dialogue.questions for qid in dimension.questions)
    )
    if not any(gap.compared for gap in gaps):
        return Divergence(WAITING, texts.lang, today, company, partner, gaps, ())
    steps = _agenda(dialogue, gaps, manager_answers, texts, today)
    return Divergence(READY, texts.lang, today, company, partner, gaps, steps)


def with_divergence(
    dialogue: Dialogue,
    diagnosis: Diagnosis,
    comparison: Divergence,
    texts: Texts,
    today: dt.date,
) -> Diagnosis:
    """The manager's diagnosis once the partner's answers are in: each flagged gap becomes a
    red flag of its dimension's severity and a next step, so that the verdict and the
    priorities weigh it (a large gap on trust or values is critical: a "ready" verdict becomes
    "settle these points first", and the agenda item ranks among the priorities).

    A comparison without flagged gaps, or not READY, leaves the diagnosis as it is."""
    flagged = comparison.flagged if comparison.status == READY else ()
    if not flagged:
        return diagnosis
    flags = tuple(
        RedFlag(
            f"divergence.{gap.dimension}",
            texts.ui("divergence.flag", dimension=gap.label, reason=gap.reason),
            gap.severity,
        )
        for gap in flagged
    )
    return rejudge(dialogue, diagnosis, flags, comparison.next_steps, texts, today)


# Helpers -------------------------------------------------------------------------------------
def _on_scale(fraction: float) -> float:
    return round(LOW + (HIGH - LOW) * max(0.0, min(1.0, fraction)), 1)


def _name(answers: Mapping[str, Any], qid: str) -> str | None:
    value = answers.get(qid)
    return value.strip() if isinstance(value, str) and value != NOT_YET and value.strip() else None


def _compare(
    dialogue: Dialogue,
    dimension: Dimension,
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    texts: Texts,
) -> Gap:
    """Each side's mean rating over the questions both rated, and the gap."""
    pairs = []
    for qid in dimension.questions:
        question = dialogue.questions[qid]
        ours, yours = rating(question, mine.get(qid)), rating(question, theirs.get(qid))
        if ours is not None and yours is not None:
            pairs.append((ours, yours))
    manager = round(sum(p[0] for p in pairs) / len(pairs), 1) if pairs else None
    partner = round(sum(p[1] for p in pairs) / len(pairs), 1) if pairs else None
    gap = round(abs(manager - partner), 1) if manager is not None and partner is not None else None
    return Gap(
        dimension=dimension.id,
        label=texts.ui(f"divergence.dimensions.{dimension.id}.label"),
        manager=manager,
        partner=partner,
        gap=gap,
        flagged=gap is not None and gap >= THRESHOLD,
        severity=dimension.severity,
        private=dimension.private,
        source=texts.ui(f"divergence.dimensions.{dimension.id}.source"),
        reason=texts.ui(f"divergence.dimensions.{dimension.id}.reason"),
        compared=gap is not None,
    )


def _agenda(
    dialogue: Dialogue,
    gaps: tuple[Gap, ...],
    manager_answers: Mapping[str, Any],
    texts: Texts,
    today: dt.date,
) -> tuple[NextStep, ...]:
    """One step per flagged gap: put it on the agenda of the next working session (the plan's,
    when the manager dated the first one; else in AGENDA_DAYS days). Most severe first."""
    plan = plan_preparation(manager_answers, today)
    session = plan.next_session(today) if plan is not None else None
    due = session or today + dt.timedelta(days=AGENDA_DAYS)
    by_id = {dimension.id: dimension for dimension in DIMENSIONS}
    steps = [
        NextStep(
            f"divergence.{gap.dimension}",
            texts.ui("divergence.agenda", dimension=gap.label),
            due,
            severity=gap.severity,
            stage=dialogue.questions[by_id[gap.dimension].questions[0]].stage,
            why=gap.reason,
        )
        for gap in gaps
        if gap.flagged
    ]
    steps.sort(key=lambda step: SEVERITIES.index(step.severity))  # stable: DIMENSIONS order
    return tuple(steps)
