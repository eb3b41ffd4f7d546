"""A manager's alliance projects as they are listed: a name, the progress, the verdict.

Pure: the caller gives each project's answers, the engine that walks it and today's date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.dialogue import cldr
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.divergence import divergence, with_divergence
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE, Texts

TITLE_MAX = 80  # characters of a project's name (the partner's, as the manager types it)


@dataclass(frozen=True)
class ProjectLine:
    """One project in /projects."""

    id: int
    name: str
    partner_side: bool  # the user is the invited partner in it, not its owner
    current: bool
    answered: int  # questions answered on the walk's path
    total: int  # questions on the path
    complete: bool
    verdict: str | None  # the verdict's title, once the owner's checklist is complete


def project_name(
    title: str | None, answers: Mapping[str, Any], created: dt.date, texts: Texts
) -> str:
    """What a project is called: the name the manager gave it, else the partner named in its
    answers, else "Project of <the day it was created>"."""
    if title:
        return title
    partner = answers.get("partner")
    if isinstance(partner, str) and partner.strip() and partner != NOT_YET:
        return partner.strip()
    return texts.ui("projects.untitled", date=cldr.long_date(created, texts.lang))


def clean_title(text: str) -> str | None:
    """A typed project name, trimmed to one line; None when it is empty or too long."""
    title = " ".join(text.split())
    if not title or len(title) > TITLE_MAX:
        return None
    return title


def project_line(
    *,
    project_id: int,
    name: str,
    partner_side: bool,
    current: bool,
    engine: Engine,
    state: Mapping[str, Any] | None,
    answers: Mapping[str, Any],
    texts: Texts,
    today: dt.date,
    partner_answers: Mapping[str, Any] | None = None,
) -> ProjectLine:
    """The line of one project: progress on its walk's path, and the verdict once the owner's
    checklist is complete (the partner's walk has none), the gaps with the partner weighed in
    once they answered (`partner_answers`), as /summary weighs them."""
    walk = State.load(state or {})
    path = engine.walker.path(answers)
    answered = sum(1 for qid in path if qid in answers)
    complete = walk.at == DONE
    verdict = None
    if complete and not partner_side:
        diagnosis = engine.summary(walk, answers, texts.lang, today).diagnosis
        if partner_answers:
            compared = divergence(engine.dialogue, answers, partner_answers, texts.lang, today)
            diagnosis = with_divergence(engine.dialogue, diagnosis, compared, texts, today)
        verdict = diagnosis.verdict.title if diagnosis.verdict is not None else None
    return ProjectLine(
        project_id, name, partner_side, current, answered, len(path), complete, verdict
    )


def describe(line: ProjectLine, texts: Texts) -> str:
    """One project as a line of text: name, progress, verdict."""
    if line.complete:
        progress = texts.ui("projects.list.complete")
    else:
        progress = texts.ui("projects.list.progress", answered=line.answered, total=line.total)
    parts = [line.name, progress]
    if line.verdict:
        parts.append(line.verdict)
    if line.partner_side:
        parts.append(texts.ui("projects.list.as_partner"))
    marker = texts.ui("projects.list.current") if line.current else "•"
    return f"{marker} " + " · ".join(parts)


def listing(lines: Sequence[ProjectLine], texts: Texts) -> str:
    """The whole /projects message."""
    body = "\n".join(describe(line, texts) for line in lines)
    return "\n\n".join((texts.ui("projects.list.title"), body, texts.ui("projects.list.hint")))
