"""The divergence report as text (terminal, Telegram HTML, Markdown), from one reader's view.

Each function takes a `Divergence` *view* (`comparison.view(viewer)`): what the manager, the
partner or anyone given the partner-safe export may read. An unmasked comparison is refused,
so that no private rating can reach a text by mistake. Comments under the flagged gaps are
passed in (storage keeps them). Paragraphs are separated by a blank line, as in bot/report.py,
so a long report can be split at paragraph boundaries; user text is escaped by the markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.dialogue import cldr
from bot.dialogue.divergence import (
    MANAGER,
    PARTNER,
    SHARED,
    VIEWERS,
    WAITING,
    WITHDRAWN,
    Comment,
    Divergence,
    Gap,
)
from bot.dialogue.model import Texts
from bot.dialogue.summary import Summary, format_date
from bot.report import Plain


@dataclass(frozen=True)
class Row:
    """One dimension as a reader sees it: the reader's side first (the manager's in the
    partner-safe export), values already written in the reader's language."""

    dimension: str
    label: str
    first: str
    second: str
    gap: str
    flagged: bool


def checked(view: Divergence) -> Divergence:
    """`view` itself, once sure it is a reader's view.

    Raises:
        ValueError: the full comparison was passed instead of `comparison.view(viewer)`.
    """
    if view.viewer not in VIEWERS:
        raise ValueError("render a reader's view: comparison.view(viewer), not the comparison")
    return view


def sides(view: Divergence, texts: Texts) -> tuple[str, str]:
    """The names of the two columns: "You" and "Your partner" for one side; the two companies
    (as the manager named them) in the partner-safe export."""
    if view.viewer == SHARED:
        return (
            view.company or texts.ui("export.company"),
            view.partner or texts.ui("export.partner"),
        )
    return texts.ui("divergence.you"), texts.ui("divergence.your_partner")


def rows(view: Divergence, texts: Texts) -> list[Row]:
    """Every dimension of the view, in the method's order."""
    checked(view)
    found = []
    for gap in view.gaps:
        mine, theirs = (
            (gap.partner, gap.manager)
            if view.viewer == PARTNER
            else (
                gap.manager,
                gap.partner,
            )
        )
        found.append(
            Row(
                gap.dimension,
                gap.label,
                _value(mine, gap, texts),
                _value(theirs, gap, texts),
                _gap(gap, texts),
                gap.flagged,
            )
        )
    return found


def radar(view: Divergence) -> tuple[list[str], list[float], list[float]]:
    """The dimensions both sides' ratings of which the reader may see: labels, the reader's
    side (the manager's in the partner-safe export), the other side."""
    checked(view)
    labels, first, second = [], [], []
    for gap in view.gaps:
        if gap.manager is None or gap.partner is None:
            continue
        mine, theirs = (
            (gap.partner, gap.manager)
            if view.viewer == PARTNER
            else (
                gap.manager,
                gap.partner,
            )
        )
        labels.append(gap.label)
        first.append(mine)
        second.append(theirs)
    return labels, first, second


def comment_author(view: Divergence, comment: Comment, texts: Texts) -> str:
    """Who wrote a comment, as this reader names them."""
    you, them = sides(view, texts)
    if view.viewer == SHARED:
        return you if comment.side == MANAGER else them
    return you if comment.side == view.viewer else them


def status_text(view: Divergence, texts: Texts) -> str | None:
    """What stands instead of the report while there is nothing to compare."""
    if view.status == WAITING:
        return texts.ui("divergence.waiting")
    if view.status == WITHDRAWN:
        return texts.ui("divergence.withdrawn")
    return None


def render_divergence(
    view: Divergence, texts: Texts, style: Plain, comments: Sequence[Comment] = ()
) -> str:
    """The whole report: each dimension with both sides and the gap, the flagged gaps with the
    method's reason and the comments, the agenda items. The partner-safe view opens with its
    mark and closes with what it leaves out."""
    checked(view)
    ui, e = texts.ui, style.escape
    head = style.heading(e(ui("divergence.title")))
    if view.company and view.partner:
        head += "\n" + e(ui("divergence.subtitle", company=view.company, partner=view.partner))
    blocks = [head]
    if view.viewer == SHARED:
        blocks.append(style.bold(e(ui("divergence.safe_mark"))))
    waiting = status_text(view, texts)
    if waiting is not None:
        blocks.append(e(waiting))
        return "\n\n".join(blocks)
    blocks.append(e(ui("divergence.intro")))
    you, them = sides(view, texts)
    lines = [style.bold(e(f"{ui('divergence.dimension')} · {you} / {them}"))]
    for row in rows(view, texts):
        line = e(
            ui(
                "divergence.line",
                dimension=row.label,
                first=row.first,
                second=row.second,
                gap=row.gap,
            )
        )
        lines.append(style.bullet(style.bold(line) if row.flagged else line))
    blocks.append("\n".join(lines))
    if any(gap.masked for gap in view.gaps):
        blocks.append(e(ui("divergence.private_note")))
    blocks.append(style.subheading(e(ui("divergence.flagged"))))
    if not view.flagged:
        blocks.append(e(ui("divergence.none_flagged")))
    for gap in view.flagged:
        blocks.append(style.bold(e(gap.label)))
        blocks.append(e(ui("divergence.why", source=gap.source, reason=gap.reason)))
        said = [
            style.bullet(
                e(ui("divergence.comment", who=comment_author(view, c, texts), text=c.text))
            )
            for c in comments
            if c.dimension == gap.dimension
        ]
        if said:
            blocks.append("\n".join(said))
    if view.next_steps:
        steps = [style.subheading(e(ui("divergence.next_steps")))]
        for step in view.next_steps:
            due = ui("summary.due", date=format_date(step.due, texts))
            steps.append(style.bullet(e(f"{step.text} ({due})")))
        blocks.append("\n".join(steps))
    if view.viewer == SHARED:
        blocks.append(e(ui("divergence.safe_note")))
    return "\n\n".join(blocks)


def _value(value: float | None, gap: Gap, texts: Texts) -> str:
    if value is not None:
        return cldr.decimal(value, texts.lang)
    if gap.masked and gap.compared:
        return texts.ui("divergence.hidden")
    return texts.ui("divergence.not_rated")


def _gap(gap: Gap, texts: Texts) -> str:
    if gap.masked and gap.compared:
        return texts.ui("divergence.apart" if gap.flagged else "divergence.close")
    if gap.gap is None:
        return texts.ui("divergence.not_rated")
    return texts.ui("divergence.gap_value", gap=cldr.decimal(gap.gap, texts.lang))


def render_own_answers(summary: Summary, texts: Texts, style: Plain) -> str:
    """A side's own answers by stage, without a diagnosis: what the partner's /summary shows
    (their walk has no verdict of its own; the comparison is the divergence report)."""
    e = style.escape
    blocks = [style.heading(e(texts.ui("summary.answers")))]
    for stage in summary.stages:
        if not stage.answers:
            continue
        lines = [style.bold(e(stage.title))]
        lines += [
            style.bullet(e(texts.ui("summary.pair", label=a.label, value=a.display)))
            for a in stage.answers
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def comment_button(gap: Gap, texts: Texts) -> str:
    """The label of the button that adds a comment under a flagged gap."""
    return texts.ui("divergence.comment_button", dimension=gap.label)


def comment_prompt(gap: Gap, texts: Texts) -> str:
    """What the bot asks when that button is tapped."""
    return texts.ui("divergence.comment_prompt", dimension=gap.label)
