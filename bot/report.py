"""The summary as text, in one of three markups: plain (terminal), HTML (Telegram), Markdown.

Paragraphs are separated by a blank line so a long summary can be split at paragraph boundaries.
User text is always escaped by the markup.
"""

from __future__ import annotations

import html
import re

from bot.dialogue.model import Texts
from bot.dialogue.summary import Summary, format_date


class Plain:
    """No markup: for a terminal."""

    def escape(self, text: str) -> str:
        return text

    def heading(self, text: str) -> str:
        return text.upper()

    def subheading(self, text: str) -> str:
        return f"{text}:"

    def bold(self, text: str) -> str:
        return text

    def bullet(self, text: str) -> str:
        return f"  - {text}"


class Html(Plain):
    """Telegram's HTML subset."""

    def escape(self, text: str) -> str:
        return html.escape(text, quote=False)

    def heading(self, text: str) -> str:
        return f"<b>{text}</b>"

    def subheading(self, text: str) -> str:
        return f"<b>{text}</b>"

    def bold(self, text: str) -> str:
        return f"<b>{text}</b>"

    def bullet(self, text: str) -> str:
        return f"• {text}"


class Markdown(Plain):
    """CommonMark, for the Markdown export."""

    _special = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|])")

    def escape(self, text: str) -> str:
        return self._special.sub(r"\\\1", text).replace("\n", "  \n")

    def heading(self, text: str) -> str:
        return f"# {text}"

    def subheading(self, text: str) -> str:
        return f"## {text}"

    def bold(self, text: str) -> str:
        return f"**{text}**"

    def bullet(self, text: str) -> str:
        return f"- {text}"


def render_summary(summary: Summary, texts: Texts, style: Plain) -> str:
    """The whole summary: answers by stage, diagnosis, red flags, next steps."""
    ui = texts.ui
    e = style.escape
    blocks: list[str] = [style.heading(e(ui("summary.title")))]
    if summary.company and summary.partner:
        blocks[0] += "\n" + e(
            ui("summary.subtitle", company=summary.company, partner=summary.partner)
        )
    if not summary.complete:
        blocks.append(e(ui("summary.incomplete")))
    blocks.append(style.subheading(e(ui("summary.answers"))))
    for stage in summary.stages:
        lines = [style.bold(e(stage.title))]
        lines += [
            style.bullet(e(ui("summary.pair", label=a.label, value=a.display)))
            for a in stage.answers
        ]
        blocks.append("\n".join(lines))
    blocks.append(render_diagnosis(summary, texts, style))
    return "\n\n".join(blocks)


def render_diagnosis(summary: Summary, texts: Texts, style: Plain) -> str:
    """The diagnosis, red flags and next steps (the part worth reading first)."""
    ui = texts.ui
    e = style.escape
    d = summary.diagnosis
    blocks = [style.subheading(e(ui("summary.diagnosis")))]
    type_block = f"{style.bold(e(ui('summary.type')))}\n{e(d.type_text)}"
    if d.reasons:
        type_block += "\n" + e(ui("summary.reasons")) + "\n"
        type_block += "\n".join(style.bullet(e(reason)) for reason in d.reasons)
    blocks.append(type_block)
    score_lines = [style.bold(e(ui("summary.readiness")))]
    for stage in d.readiness:
        score = (
            ui("summary.score", score=stage.score)
            if stage.score is not None
            else ui("summary.not_scored")
        )
        score_lines.append(style.bullet(e(ui("summary.pair", label=stage.title, value=score))))
    if d.overall is not None:
        overall = ui("summary.score", score=d.overall)
        pair = ui("summary.pair", label=ui("summary.overall"), value=overall)
        score_lines.append(style.bold(e(pair)))
    blocks.append("\n".join(score_lines))
    flags = [style.bold(e(ui("summary.red_flags")))]
    flags += [style.bullet(e(text)) for _, text in d.red_flags] or [e(ui("summary.no_red_flags"))]
    blocks.append("\n".join(flags))
    steps = [style.subheading(e(ui("summary.next_steps")))]
    for index, step in enumerate(d.next_steps, start=1):
        due = ui("summary.due", date=format_date(step.due, texts))
        steps.append(f"{index}. {e(step.text)} ({e(due)})")
    if not d.next_steps:
        steps.append(e(ui("summary.no_next_steps")))
    blocks.append("\n".join(steps))
    return "\n\n".join(blocks)
