"""The report as Markdown (CommonMark): readable as plain text, rendered nicely anywhere.

Only headings, paragraphs, bold, block quotes and lists are used (no tables, which CommonMark
lacks), and every piece of user text goes through bot.report.Markdown's escape.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.export.content import ReportContent
from bot.export.divergence import divergence_section_markdown
from bot.report import Markdown, flag_lines

_md = Markdown()


def render_markdown(content: ReportContent) -> str:
    """The full report: title, who and when, diagnosis, next steps, plan, reminders, answers."""
    ui = content.texts.ui
    e = _md.escape
    summary = content.summary
    d = summary.diagnosis
    title = ui("summary.pair", label=ui("export.title"), value=content.project)
    blocks: list[str] = [f"# {e(title)}"]

    meta = [
        (ui("export.company"), summary.company or ui("export.unknown")),
        (ui("export.partner"), summary.partner or ui("export.unknown")),
        (ui("export.date"), content.date(summary.date)),
        (ui("export.status"), ui("export.complete" if summary.complete else "export.incomplete")),
    ]
    blocks.append("  \n".join(_pair(content, label, value) for label, value in meta))
    if not summary.complete:
        blocks.append("> " + e(ui("summary.incomplete")))

    # Verdict ------------------------------------------------------------------------------------
    if d.verdict is not None:
        blocks.append(f"## {e(ui('advice.verdict'))}")
        blocks.append(_md.bold(e(d.verdict.title)))
        blocks.append(e(d.verdict.text))

    # Next steps: the priorities, then the others by stage ---------------------------------------
    blocks.append(f"## {e(ui('summary.next_steps'))}")
    if d.next_steps:
        blocks.append(f"### {e(ui('advice.priorities'))}")
        lines = []
        for index, step in enumerate(d.priorities, start=1):
            due = ui("summary.due", date=content.date(step.due))
            line = f"{index}. " + _indent(_pair(content, due, step.text), 3)
            if step.why:
                line += "  \n   " + _indent(_md.escape(ui("advice.why_first", why=step.why)), 3)
            lines.append(line)
        blocks.append("\n".join(lines) if lines else e(ui("advice.none")))
        if d.then:
            blocks.append(f"### {e(ui('advice.then'))}")
            for group in d.then:
                blocks.append(_md.bold(e(group.title)))
                steps = [
                    (ui("summary.due", date=content.date(s.due)), s.text) for s in group.steps
                ]
                blocks.append(
                    "\n".join("- " + _indent(_pair(content, when, text)) for when, text in steps)
                )
    else:
        blocks.append(e(ui("summary.no_next_steps")))

    # Diagnosis ----------------------------------------------------------------------------------
    blocks.append(f"## {e(ui('summary.diagnosis'))}")
    blocks.append(f"### {e(ui('summary.type'))}")
    blocks.append(e(d.type_text))
    if d.reasons:
        blocks.append(_md.bold(e(ui("summary.reasons"))))
        blocks.append(_bullets(d.reasons))
    blocks.append(f"### {e(ui('summary.readiness'))}")
    scores = []
    for stage in d.readiness:
        value = (
            ui("summary.score", score=stage.score)
            if stage.score is not None
            else ui("summary.not_scored")
        )
        scores.append(ui("summary.pair", label=stage.title, value=value))
    if scores:
        blocks.append(_bullets(scores))
    if d.overall is not None:
        overall = ui("summary.score", score=d.overall)
        blocks.append(_md.bold(e(ui("summary.pair", label=ui("summary.overall"), value=overall))))
    blocks.append(f"### {e(ui('summary.red_flags'))}")
    if d.red_flags:
        blocks.append(_bullets(flag_lines(d, content.texts)))
    else:
        blocks.append(e(ui("summary.no_red_flags")))

    # Both sides' views, once the partner has answered --------------------------------------------
    if content.divergence is not None:
        blocks.append(divergence_section_markdown(content.divergence))

    # Preparation plan ---------------------------------------------------------------------------
    plan = content.plan
    if plan is not None:
        blocks.append(f"## {e(ui('export.plan'))}")
        notes = content.plan_notes()
        blocks.append("\n\n".join(e(note) for note in notes))
        count = len(plan.sessions)
        rows = [
            (content.date(day), ui("export.session", n=n, count=count))
            for n, day in enumerate(plan.sessions, start=1)
        ]
        rows.append((content.date(plan.go_no_go), ui("export.go_no_go")))
        blocks.append(_numbered(content, rows))

    # Reminders ----------------------------------------------------------------------------------
    if content.reminders:
        blocks.append(f"## {e(ui('export.reminders'))}")
        blocks.append(
            _bullets(
                ui("summary.pair", label=content.moment(r.due), value=r.text)
                for r in content.reminders
            )
        )

    # Answers ------------------------------------------------------------------------------------
    blocks.append(f"## {e(ui('export.answers'))}")
    for part in summary.stages:
        if not part.answers:
            continue
        blocks.append(f"### {e(part.title)}")
        blocks.append(
            "\n".join(
                "- " + _indent(_pair(content, line.label, line.display)) for line in part.answers
            )
        )

    blocks.append("---")
    footer = [ui("export.confidential"), ui("export.prepared", date=content.date(summary.date))]
    blocks.append("  \n".join(f"*{e(text)}*" for text in footer))
    return "\n\n".join(blocks) + "\n"


def _pair(content: ReportContent, label: str, value: str) -> str:
    """ "**Label**: value" with the language's own separator (French puts a space before)."""
    bold, escaped = _md.bold(_md.escape(label)), _md.escape(value)
    return content.texts.ui("summary.pair", label=bold, value=escaped)


def _bullets(items: Iterable[str]) -> str:
    return "\n".join("- " + _indent(_md.escape(item)) for item in items)


def _numbered(content: ReportContent, rows: Iterable[tuple[str, str]]) -> str:
    """An ordered list of (when, what): "1. **when**: what"."""
    return "\n".join(
        f"{index}. " + _indent(_pair(content, when, text), 3)
        for index, (when, text) in enumerate(rows, start=1)
    )


def _indent(text: str, width: int = 2) -> str:
    """Continuation lines of a list item, indented so that they stay inside it."""
    return text.replace("\n", "\n" + " " * width)
