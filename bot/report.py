"""The summary as text, in one of three markups: plain (terminal), HTML (Telegram), Markdown.

Paragraphs are separated by a blank line so a long summary can be split at paragraph boundaries.
User text is always escaped by the markup.
"""

from __future__ import annotations

import html
import re

from bot.dialogue.diagnosis import Diagnosis
from bot.dialogue.model import Texts
from bot.dialogue.summary import Summary, format_date


class Plain:
    """No markup: for a terminal."""

    def escape(self, text: str) -> str:
        return text

    def heading(self, text: str) -> str:
        return text.upper()

    def subheading(self, text: str) -> str:
        # Underlined rather than followed by a colon: French puts a space before ":", English
        # does not, and a line of dashes reads the same in both.
        return f"{text}\n{'-' * len(text)}"

    def bold(self, text: str) -> str:
        return text

    def bullet(self, text: str) -> str:
        return f"  - {text}"

    def collapsed(self, text: str) -> str:
        """A block shown folded where the medium can fold it (the "then" steps)."""
        return text


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

    def collapsed(self, text: str) -> str:
        return f"<blockquote expandable>{text}</blockquote>"


class Markdown(Plain):
    """CommonMark (and GitHub's dialect), for the Markdown export.

    `escape` backslash-escapes only what would change the rendering, so that the raw text stays
    readable: `C:\\dossier`, `3.5`, `(voir ci-dessus)` or `snake_case` are left alone.
    """

    # Anywhere in a line: code spans, emphasis, links and images, strikethrough (GitHub).
    _inline = re.compile(
        r"[`*~\[]"  # always markup
        r"|\\(?=[!-/:-@\[-`{-~]|$)"  # a backslash before punctuation, or a hard line break
        r"|(?<![^\W_])_|_(?![^\W_])"  # an underscore not inside a word (intraword is literal)
        r"|<(?=[A-Za-z/!?])"  # an HTML tag or an autolink
        r"|&(?=#?\w+;)"  # an entity or character reference
    )
    # At the start of a line: a heading, quote, list item, thematic break or setext underline.
    _line_start = re.compile(
        r"^(?:#{1,6}(?=\s|$)|>|[-+=](?=\s|$|[-=\s]*$)|\d{1,9}(?=[.)](?:\s|$)))"
    )
    # At the end of a heading line: a closing sequence of #s would be dropped.
    _closing_hashes = re.compile(r"(?<=\s)#+\s*$")

    def escape(self, text: str) -> str:
        lines = []
        for raw in text.split("\n"):
            line = self._inline.sub(lambda m: "\\" + m.group(0), raw.lstrip())
            line = self._closing_hashes.sub(lambda m: "\\" + m.group(0), line)
            start = self._line_start.match(line)
            if start is not None:
                cut = start.end() if start.group(0)[0].isdigit() else 0
                line = line[:cut] + "\\" + line[cut:]
            lines.append(line)
        return "  \n".join(lines)

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
    blocks.append(render_advice(summary, texts, style))
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
    flags += [style.bullet(e(text)) for text in flag_lines(d, texts)] or [
        e(ui("summary.no_red_flags"))
    ]
    blocks.append("\n".join(flags))
    return "\n\n".join(blocks)


def flag_lines(diagnosis: Diagnosis, texts: Texts) -> list[str]:
    """Each red flag led by its severity: "Blocking: ...", most severe first."""
    return [
        texts.ui(
            "summary.pair",
            label=texts.ui(f"advice.severity.{flag.severity}").capitalize(),
            value=flag.text,
        )
        for flag in diagnosis.red_flags
    ]


def render_advice(summary: Summary, texts: Texts, style: Plain) -> str:
    """The verdict, the (at most three) priorities with why each comes first, and the other
    steps by stage, folded where the medium allows. What a summary opens with."""
    ui = texts.ui
    e = style.escape
    d = summary.diagnosis
    blocks = []
    if d.verdict is not None:
        verdict = style.subheading(e(ui("advice.verdict")))
        verdict += f"\n{style.bold(e(d.verdict.title))}\n{e(d.verdict.text)}"
        blocks.append(verdict)
    blocks.append(style.subheading(e(ui("summary.next_steps"))))
    if not d.next_steps:
        blocks.append(e(ui("summary.no_next_steps")))
        return "\n\n".join(blocks)
    lines = [style.bold(e(ui("advice.priorities")))]
    for index, step in enumerate(d.priorities, start=1):
        due = ui("summary.due", date=format_date(step.due, texts))
        lines.append(e(ui("advice.priority", n=index, text=step.text, due=due)))
        if step.why:
            lines.append(style.bullet(e(ui("advice.why_first", why=step.why))))
    if not d.priorities:
        lines.append(e(ui("advice.none")))
    blocks.append("\n".join(lines))
    if d.then:
        blocks.append(style.bold(e(ui("advice.then"))))
        for group in d.then:
            rows = [style.bold(e(group.title))]
            for step in group.steps:
                due = ui("summary.due", date=format_date(step.due, texts))
                rows.append(style.bullet(e(f"{step.text} ({due})")))
            blocks.append(style.collapsed("\n".join(rows)))
    return "\n\n".join(blocks)
