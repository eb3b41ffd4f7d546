"""The divergence report as files: Markdown and PDF, with the two-polygon radar.

`DivergenceContent` gathers what one reader may see (a `Divergence` view, the comments under the
flagged gaps, the words): a plain, picklable value, drawn in a worker of bot/export/pool.py like
the summary's report. The view decides the document: the manager's or the partner's copy, or,
from `comparison.view(SHARED)`, the partner-safe export a manager forwards to the partner or a
lawyer, marked as such, without any side's private rating (trust, values, doubts) and without
anything of the manager's own report (answers, verdict, red flags). The private report
(bot/export/pdf.py, markdown.py) is not changed by this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.dialogue.divergence import SHARED, Comment, Divergence
from bot.dialogue.model import Texts
from bot.dialogue.summary import format_date
from bot.divergence_report import (
    checked,
    comment_author,
    radar,
    render_divergence,
    rows,
    sides,
    status_text,
)
from bot.report import Markdown

if TYPE_CHECKING:
    from bot.export.pdf import _Layout


@dataclass(frozen=True)
class DivergenceContent:
    """What a divergence document shows: one reader's view, the comments, the words."""

    view: Divergence
    texts: Texts
    comments: tuple[Comment, ...] = ()

    def __post_init__(self) -> None:
        checked(self.view)
        if self.texts.lang != self.view.lang:
            raise ValueError("the texts must be in the comparison's language")

    @property
    def safe(self) -> bool:
        """The partner-safe export."""
        return self.view.viewer == SHARED

    @property
    def project(self) -> str:
        view, ui = self.view, self.texts.ui
        if view.company and view.partner:
            return ui("divergence.subtitle", company=view.company, partner=view.partner)
        return view.company or view.partner or ui("export.untitled")


def divergence_content(
    view: Divergence, texts: Texts, comments: Sequence[Comment] = ()
) -> DivergenceContent:
    """The content of a divergence document.

    Raises:
        ValueError: `view` is not a reader's view, or `texts` not in its language.
    """
    return DivergenceContent(view, texts, tuple(comments))


def divergence_picture(content: DivergenceContent) -> tuple[bytes, str] | None:
    """The radar of both sides' ratings the reader may see, with its caption; None with fewer
    than three such dimensions. Imports matplotlib: call it in a render worker."""
    from bot.export import charts

    labels, first, second = radar(content.view)
    title = content.texts.ui("divergence.chart")
    chart = charts.divergence_chart(
        labels, first, second, names=sides(content.view, content.texts), title=title
    )
    return (chart, title) if chart is not None else None


def render_divergence_markdown(content: DivergenceContent) -> str:
    """The report as Markdown: the same text as in the chat, with a title and a footer."""
    ui = content.texts.ui
    style = Markdown()
    body = render_divergence(content.view, content.texts, style, content.comments)
    footer = [
        ui("divergence.safe_mark") if content.safe else ui("export.confidential"),
        ui("divergence.prepared", date=format_date(content.view.date, content.texts)),
    ]
    lines = "  \n".join(f"*{style.escape(text)}*" for text in footer)
    return f"{body}\n\n---\n\n{lines}\n"


class _Section(Markdown):
    """Headings one level down: the report as a section of the manager's own report."""

    def heading(self, text: str) -> str:
        return f"## {text}"

    def subheading(self, text: str) -> str:
        return f"### {text}"


def divergence_section_markdown(content: DivergenceContent) -> str:
    """The report as a section ("## ...") of a longer Markdown document."""
    return render_divergence(content.view, content.texts, _Section(), content.comments)


def render_divergence_pdf(content: DivergenceContent, *, now: dt.datetime | None = None) -> bytes:
    """The report as a PDF (fpdf2, the report's fonts and layout), the radar included."""
    from bot.export.pdf import _characters

    document = _document(content, now, _characters(content))
    data = document.build()
    if document.missed:
        data = _document(content, now, document.wanted | document.missed).build()
    return data


def render_divergence_file(
    fmt: str, content: DivergenceContent, *, now: dt.datetime | None = None
) -> bytes:
    """One format of the report: "pdf" or "md"."""
    if fmt == "pdf":
        return render_divergence_pdf(content, now=now)
    if fmt == "md":
        return render_divergence_markdown(content).encode()
    raise ValueError(f"{fmt!r} is not a divergence report format: use pdf or md")


def _document(content: DivergenceContent, now: dt.datetime | None, wanted: set[str]) -> _Pdf:
    return _Pdf(content, now, wanted)


class _Pdf:
    """Lays out the divergence PDF with the building blocks of the summary's report."""

    def __init__(
        self, content: DivergenceContent, now: dt.datetime | None, wanted: set[str]
    ) -> None:
        from bot.export.pdf import _Decor, _Layout, _new_document

        self.content = content
        ui = content.texts.ui
        mark = ui("divergence.safe_mark") if content.safe else ui("export.confidential")
        date = format_date(content.view.date, content.texts)
        missed: set[str] = set()
        pdf = _new_document(
            _Decor(
                header_left=content.project,
                header_right=ui("summary.pair", label=ui("divergence.report_title"), value=date),
                footer_left=mark,
                page_label=ui("export.page", page="{page}", pages="{pages}"),
            ),
            missed,
        )
        self.blocks = _Layout(pdf, ui, now, wanted, missed)
        self.wanted, self.missed = wanted, missed

    def build(self) -> bytes:
        content, blocks = self.content, self.blocks
        ui, view = content.texts.ui, content.view
        title = ui("summary.pair", label=ui("divergence.report_title"), value=content.project)
        blocks.setup(title, ui("divergence.title"), view.company or "", view.lang)
        blocks.pdf.add_page()
        add_divergence_section(blocks, content, title=title)
        return bytes(blocks.pdf.output())


def add_divergence_section(
    blocks: _Layout, content: DivergenceContent, *, title: str | None = None
) -> None:
    """The divergence report laid out on a PDF under way: the standalone report, or a section
    of the manager's own report (`title` defaults to the report's heading)."""
    ui, view, texts = content.texts.ui, content.view, content.texts
    blocks.heading1(title or ui("divergence.title"))
    if content.safe:
        blocks.notice(ui("divergence.safe_mark"))
        blocks.pdf.ln(2)
    if title is not None:
        blocks.key_values([(ui("export.date"), format_date(view.date, texts))])
        blocks.pdf.ln(3)
    waiting = status_text(view, texts)
    if waiting is not None:
        blocks.paragraph(waiting)
        return
    blocks.paragraph(ui("divergence.intro"))
    _dimensions(blocks, content)
    picture = divergence_picture(content)
    if picture is not None:
        blocks.image(picture[0], width=120, alt=picture[1])
    if any(gap.masked for gap in view.gaps):
        blocks.paragraph(ui("divergence.private_note"))
    _flagged(blocks, content)
    if view.next_steps:
        blocks.titled_table(
            ui("divergence.next_steps"),
            (ui("export.due"), ui("export.action")),
            [(format_date(step.due, texts), step.text) for step in view.next_steps],
            (0.25, 0.75),
        )
    if content.safe:
        blocks.paragraph(ui("divergence.safe_note"))


def _dimensions(blocks: _Layout, content: DivergenceContent) -> None:
    """Each dimension: the two sides and the gap, a flagged one in bold."""
    from fpdf.fonts import FontFace

    from bot.export.pdf import ACCENT, FAMILY, RULE, SOFT, TEXT, ZEBRA

    ui, pdf = content.texts.ui, blocks.pdf
    first, second = sides(content.view, content.texts)
    lines = rows(content.view, content.texts)
    blocks.need(10 + 8 * len(lines) if len(lines) < 12 else 30)
    pdf.set_font(FAMILY, "", 9.5)
    pdf.set_text_color(*TEXT)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    heading = FontFace(family=FAMILY, emphasis="BOLD", size_pt=8.5, color=ACCENT, fill_color=SOFT)
    with pdf.table(
        col_widths=(0.4, 0.2, 0.2, 0.2),
        width=pdf.epw,
        text_align=("LEFT", "CENTER", "CENTER", "CENTER"),
        borders_layout="HORIZONTAL_LINES",
        cell_fill_mode="EVEN_ROWS",
        cell_fill_color=ZEBRA,
        headings_style=heading,
        line_height=4.9,
        padding=(1.8, 2.2),
    ) as table:
        names = (ui("divergence.dimension"), first, second, ui("divergence.gap"))
        table.row([name.upper() for name in names])
        for row in lines:
            style = FontFace(family=FAMILY, emphasis="BOLD" if row.flagged else None)
            table.row([row.label, row.first, row.second, row.gap], style=style)
    pdf.ln(4)


def _flagged(blocks: _Layout, content: DivergenceContent) -> None:
    """The flagged gaps: the method's reason, then the comments."""
    ui, view = content.texts.ui, content.view
    blocks.heading2(ui("divergence.flagged"))
    if not view.flagged:
        blocks.paragraph(ui("divergence.none_flagged"))
        return
    for gap in view.flagged:
        blocks.heading2(gap.label)
        blocks.paragraph(ui("divergence.why", source=gap.source, reason=gap.reason))
        said = [
            ui(
                "divergence.comment",
                who=comment_author(view, comment, content.texts),
                text=comment.text,
            )
            for comment in content.comments
            if comment.dimension == gap.dimension
        ]
        if said:
            blocks.bullets(said)
