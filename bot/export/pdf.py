"""The report as a PDF a manager can forward to a partner or a lawyer (fpdf2).

Layout: a title page (project, company, partner, date, key figures), then the diagnosis with its
charts, the next steps, the preparation plan, the pending reminders, and the answers by stage.
Every page after the first has a header (project, report date); every page has a footer
(confidentiality, page n of N).

Fonts: DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew, many symbols) with Unicode's Last
Resort font as fallback, so that a character DejaVu cannot draw (Chinese, Japanese, Korean,
emoji...) shows as a visible placeholder box naming its Unicode block, never disappears, and
stays in the text layer (copy, search). With the optional uharfbuzz package, Arabic and Hebrew
are shaped and laid out right to left; without it their letters appear unjoined, left to right.
See docs/exports.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import itertools
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.export import charts
from bot.export.content import ReportContent
from bot.export.pictures import assessed_stages, side_pictures
from bot.report import flag_lines

if TYPE_CHECKING:
    from fpdf import FPDF

FONTS_DIR = Path(__file__).with_name("fonts")
FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "fallback": "LastResortHE-Regular.ttf",
    "everyday regular": "DejaVuSans-Everyday.ttf",  # DejaVu cut to EVERYDAY (fonts/README.md)
    "everyday bold": "DejaVuSans-Bold-Everyday.ttf",
}
FAMILY, FALLBACK = "DejaVu", "LastResort"

# Colours (RGB): the charts use the same palette.
ACCENT = (31, 58, 95)
TEXT = (33, 37, 41)
MUTED = (107, 114, 128)
RULE = (209, 213, 219)
SOFT = (236, 240, 245)
ZEBRA = (248, 249, 251)
ALERT = (178, 59, 59)

MARGIN = 20.0  # mm
_ROW_LINE, _ROW_PAD = 4.9, 1.8  # table rows: line height and padding above and below, mm
_HEADING_HEIGHT = {1: 16.5, 2: 7.5}  # mm taken by heading1 and heading2 (one line)
_KEEP_TOGETHER = 90.0  # mm: a titled table up to this height is never split across pages
BODY = 10.0  # pt
TABLE = 9.5  # pt: table rows
LINE = 5.2  # mm per line of body text


def font_path(kind: str) -> Path:
    """The TTF file for "regular", "bold" or "fallback".

    The fonts ship in bot/export/fonts/. matplotlib's own copies of the same files are the
    second choice, for an installation that left the package data out.
    """
    name = FONT_FILES[kind]
    bundled = FONTS_DIR / name
    if bundled.is_file():
        return bundled
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


#: The code points of everyday reports (French, English, the other languages written in Latin
#: letters) that the everyday faces keep of DejaVu: control characters, Basic Latin, Latin-1 to
#: Latin Extended-B, general punctuation, currencies, letterlike symbols, arrows, mathematical
#: operators, geometric shapes, dingbats (the ranges of bot/export/fonts/README.md's command).
EVERYDAY_RANGES = (
    (0x00, 0x7E),
    (0xA0, 0x24F),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2100, 0x214F),
    (0x2190, 0x21FF),
    (0x2200, 0x22FF),
    (0x25A0, 0x25FF),
    (0x2700, 0x27BF),
)
EVERYDAY = frozenset(
    itertools.chain.from_iterable(range(first, last + 1) for first, last in EVERYDAY_RANGES)
)


def text_faces(wanted: set[str]) -> tuple[Path, Path]:
    """The regular and bold DejaVu files for a report that shows `wanted`: the everyday faces
    (DejaVu cut to `EVERYDAY`) when every character is one of them, else the whole ones.

    Each PDF reads the map of its fonts again: for the whole faces (some 5,900 glyphs each),
    about 40 ms of CPU apiece, a sixth of a warm PDF for the two; for the everyday ones (1,373),
    about 12 apiece.
    Their glyphs, metrics and tables are DejaVu's own, so a report looks the same with either; a
    character outside them (Greek, Cyrillic, Arabic...) takes the whole faces, and one the
    content walk missed lays the report out again with it (`render_pdf`)."""
    regular, bold = (font_path(f"everyday {kind}") for kind in ("regular", "bold"))
    # Outside the bundled files (font_path's second choice), there is no everyday cut.
    if all(ord(char) in EVERYDAY for char in wanted) and regular.is_file() and bold.is_file():
        return regular, bold
    return font_path("regular"), font_path("bold")


def fallback_font(codepoints: frozenset[int]) -> Path:
    """Last Resort reduced to `codepoints` (those DejaVu lacks), as a font file made once per
    set of code points in this process.

    The whole font maps all 1.1 million code points: reading its map costs about 0.2 s of CPU
    and trimming it into the PDF 0.1 s more, for each PDF showing an emoji. Reduced, it
    takes milliseconds, and the same emoji in the next PDF costs nothing more.
    """
    path = _fallbacks.get(codepoints)
    if path is not None:
        _fallbacks.move_to_end(codepoints)
        return path
    from fontTools import subset  # lazily, like fpdf2, which uses it too
    from fontTools.ttLib import TTFont

    font = TTFont(font_path("fallback"), recalcTimestamp=False)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, name_IDs=["*"])
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    global _fallback_dir
    if _fallback_dir is None:
        _fallback_dir = tempfile.TemporaryDirectory(prefix="alliance-fonts-")
    path = Path(_fallback_dir.name) / f"{FALLBACK}-{next(_fallback_names)}.ttf"
    font.save(path)
    _fallbacks[codepoints] = path
    while len(_fallbacks) > FALLBACKS_KEPT:
        _, old = _fallbacks.popitem(last=False)
        old.unlink(missing_ok=True)
    return path


FALLBACKS_KEPT = 32  # reduced fallback fonts kept (a few kB each)
_fallbacks: OrderedDict[frozenset[int], Path] = OrderedDict()
_fallback_names = itertools.count(1)
_fallback_dir: tempfile.TemporaryDirectory[str] | None = None


def shaping_available() -> bool:
    """Whether uharfbuzz is installed, for Arabic and Hebrew joining and right-to-left order."""
    return importlib.util.find_spec("uharfbuzz") is not None


def render_pdf(content: ReportContent, *, now: dt.datetime | None = None) -> bytes:
    """The PDF report as bytes.

    Args:
        content: what the report shows.
        now: the creation time written in the PDF's metadata (default: the current time).
    """
    # Loading the whole Last Resort font costs seconds (it maps all 1.1 million code points), so
    # it is loaded only for the characters DejaVu lacks. Those are read from the content first;
    # if the layout meets one more (an interface string, say), it is laid out once again.
    report = _Report(content, now, _characters(content))
    data = report.build()
    if report.missed:
        data = _Report(content, now, report.wanted | report.missed).build()
    return data


def _characters(value: object) -> set[str]:
    """Every character of every string inside `value` (dataclasses, tuples, lists, mappings)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in fields(item))
    return found


# The document --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Decor:
    """What the header and footer of every page say."""

    header_left: str
    header_right: str
    footer_left: str
    page_label: str  # with {page} and {pages}


def _new_document(decor: _Decor, missed: set[str]) -> FPDF:
    from fpdf import FPDF  # lazily: fpdf2 and fontTools take a while to import

    fitted: dict[str, str] = {}

    class Document(FPDF):
        """An A4 page with the report's header (from page 2) and footer."""

        def get_fallback_font(self, char: str, style: str = "") -> str | None:
            found = super().get_fallback_font(char, style)
            if found is None:
                missed.add(char)  # no font draws it: render_pdf lays the report out again
            return found

        def header(self) -> None:
            if self.page_no() == 1:
                return
            self.set_y(10)
            self.set_font(FAMILY, "", 8)
            self.set_text_color(*MUTED)
            width = self.epw * 0.6
            if "header" not in fitted:  # the same on every page: measured once
                fitted["header"] = _fit(self, decor.header_left, width - 2)
            self.cell(width, 5, fitted["header"])
            self.cell(0, 5, decor.header_right, align="R")
            self.set_draw_color(*RULE)
            self.set_line_width(0.2)
            self.line(self.l_margin, 16, self.w - self.r_margin, 16)
            self.set_y(MARGIN + 2)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(FAMILY, "", 7.5)
            self.set_text_color(*MUTED)
            self.set_draw_color(*RULE)
            self.set_line_width(0.2)
            rule_y = self.get_y() - 1.5
            self.line(self.l_margin, rule_y, self.w - self.r_margin, rule_y)
            page = str(self.page_no())
            alias = str(self.str_alias_nb_pages)
            label = decor.page_label.format(page=page, pages=alias)
            # Right-aligned by hand: fpdf2 would measure the alias, not the number replacing it
            # (assumed as long as this page's number).
            width = self.get_string_width(label.replace(alias, "0" * len(page)))
            if "footer" not in fitted:
                fitted["footer"] = _fit(self, decor.footer_left, self.epw - 42)
            self.cell(self.epw - 40, 5, fitted["footer"])
            self.set_x(self.w - self.r_margin - width - self.c_margin)
            self.cell(width + 2 * self.c_margin, 5, label)

    return Document(orientation="P", unit="mm", format="A4")


class _Layout:
    """The report's building blocks on one fpdf2 document (headings, paragraphs, tables,
    images), shared by the summary's report and the divergence report
    (bot/export/divergence.py)."""

    def __init__(
        self,
        pdf: FPDF,
        ui: Callable[..., str],
        now: dt.datetime | None,
        wanted: set[str],
        missed: set[str],
    ) -> None:
        self.pdf = pdf
        self.ui = ui
        self.now = now or dt.datetime.now(dt.UTC)
        self.wanted = wanted  # characters the report will show
        self.missed = missed  # characters met that no loaded font could draw (the document's)

    # Setup -----------------------------------------------------------------------------------
    def setup(self, title: str, subject: str, author: str, lang: str) -> None:
        """Fonts (with the fallback for what DejaVu cannot draw), margins and metadata."""
        pdf = self.pdf
        regular_file, bold_file = text_faces(self.wanted)
        pdf.add_font(FAMILY, "", str(regular_file))
        pdf.add_font(FAMILY, "B", str(bold_file))
        regular, bold = (pdf.fonts[key] for key in (FAMILY.lower(), FAMILY.lower() + "B"))
        drawable = set(getattr(regular, "cmap", {})) & set(getattr(bold, "cmap", {}))
        lacking = {ord(ch) for ch in self.wanted} - drawable - {ord("\n")}
        fallbacks = [FAMILY]  # a character the bold face lacks comes from the regular one
        if lacking:
            pdf.add_font(FALLBACK, "", str(fallback_font(frozenset(lacking))))
            fallbacks.append(FALLBACK)
        # Fallback fonts also make fpdf2 ask get_fallback_font about every character no font
        # draws, which is how Document.get_fallback_font learns what was missed.
        pdf.set_fallback_fonts(fallbacks, exact_match=False)
        if shaping_available():
            pdf.set_text_shaping(True)
        pdf.set_margins(MARGIN, MARGIN + 2, MARGIN)
        pdf.set_auto_page_break(True, margin=20)
        pdf.set_creation_date(self.now)
        pdf.set_title(title)
        pdf.set_subject(subject)
        pdf.set_author(author)
        pdf.set_creator("alliance-bot")
        pdf.set_lang(lang)

    def titled_table(
        self,
        title: str,
        headings: tuple[str, str],
        rows: Sequence[tuple[str, str]],
        widths: tuple[float, float],
        *,
        notes: Sequence[str] = (),
        level: int = 1,
        bold_last: bool = False,
    ) -> None:
        """A heading, paragraphs and a table, kept on one page when they fit on one."""
        pdf = self.pdf
        table_height = self.table_height(headings, rows, widths)  # measured once
        height = _HEADING_HEIGHT[level] + table_height
        pdf.set_font(FAMILY, "", BODY)
        for note in notes:
            height += self.line_count(pdf.epw, note) * LINE + 1.5
        # A long table may start low on a page and go on over the next; a short one moves
        # whole, so that a stage's answers or the plan are read at one glance.
        self.need(height if height <= _KEEP_TOGETHER else _HEADING_HEIGHT[level] + 25)
        (self.heading1 if level == 1 else self.heading2)(title)
        for note in notes:
            self.paragraph(note)
        self.table(headings, rows, widths, bold_last=bold_last, height=table_height)
        pdf.ln(4 if level == 1 else 3)

    # Building blocks -------------------------------------------------------------------------
    def need(self, height: float) -> None:
        """Start a new page unless `height` mm fit on this one."""
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()

    def heading1(self, text: str) -> None:
        pdf = self.pdf
        self.need(30)
        pdf.ln(2)
        pdf.set_font(FAMILY, "B", 15)
        pdf.set_text_color(*ACCENT)
        pdf.multi_cell(0, 8, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.5)
        pdf.line(pdf.l_margin, pdf.get_y() + 0.5, pdf.l_margin + pdf.epw, pdf.get_y() + 0.5)
        pdf.ln(4)

    def heading2(self, text: str) -> None:
        pdf = self.pdf
        self.need(18)
        pdf.set_font(FAMILY, "B", 11.5)
        pdf.set_text_color(*ACCENT)
        pdf.multi_cell(0, 6.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def paragraph(self, text: str) -> None:
        pdf = self.pdf
        pdf.set_font(FAMILY, "", BODY)
        pdf.set_text_color(*TEXT)
        pdf.multi_cell(0, LINE, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)

    def notice(self, text: str) -> None:
        """A highlighted one-paragraph notice (e.g. "interim summary")."""
        pdf = self.pdf
        pdf.set_font(FAMILY, "B", 9.5)
        pdf.set_text_color(*ALERT)
        pdf.set_fill_color(252, 238, 238)
        pdf.multi_cell(
            0, 6, text, fill=True, padding=(2, 3), align="L", new_x="LMARGIN", new_y="NEXT"
        )

    def bullets(self, items: Sequence[str], *, color: tuple[int, int, int] = ACCENT) -> None:
        pdf = self.pdf
        for item in items:
            pdf.set_font(FAMILY, "", BODY)
            self.need(LINE * 2)
            top = pdf.get_y()
            pdf.set_fill_color(*color)
            pdf.ellipse(pdf.l_margin + 1.2, top + LINE / 2 - 0.9, 1.8, 1.8, style="F")
            pdf.set_text_color(*TEXT)
            pdf.set_x(pdf.l_margin + 6)
            pdf.multi_cell(pdf.epw - 6, LINE, item, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)

    def key_values(self, rows: Sequence[tuple[str, str]]) -> None:
        pdf = self.pdf
        for label, value in rows:
            pdf.set_font(FAMILY, "", 9.5)
            pdf.set_text_color(*MUTED)
            pdf.cell(40, 6.5, label)
            pdf.set_font(FAMILY, "B", 10.5)
            pdf.set_text_color(*TEXT)
            pdf.multi_cell(0, 6.5, value, align="L", new_x="LMARGIN", new_y="NEXT")

    def table(
        self,
        headings: tuple[str, str],
        rows: Sequence[tuple[str, str]],
        widths: tuple[float, float],
        *,
        bold_last: bool = False,
        height: float | None = None,
    ) -> None:
        """Two columns with a heading row repeated on every page; long cells wrap. `height`:
        what `table_height` gave for the same rows, if the caller measured them already."""
        from fpdf.fonts import FontFace

        pdf = self.pdf
        if height is None:
            height = self.table_height(headings, rows, widths)
        pdf.set_font(FAMILY, "", TABLE)
        self.need(height if height <= _KEEP_TOGETHER else 25)
        pdf.set_text_color(*TEXT)
        pdf.set_fill_color(255, 255, 255)  # rows take the current colours as their base
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.2)
        heading_style = FontFace(
            family=FAMILY, emphasis="BOLD", size_pt=8.5, color=ACCENT, fill_color=SOFT
        )
        with pdf.table(
            col_widths=widths,
            width=pdf.epw,
            text_align=("LEFT", "LEFT"),
            v_align="TOP",
            borders_layout="HORIZONTAL_LINES",
            cell_fill_mode="EVEN_ROWS",
            cell_fill_color=ZEBRA,
            headings_style=heading_style,
            line_height=_ROW_LINE,
            padding=(_ROW_PAD, 2.2),
        ) as table:
            table.row([text.upper() for text in headings])
            for index, (left, right) in enumerate(rows):
                last = bold_last and index == len(rows) - 1
                style = FontFace(family=FAMILY, emphasis="BOLD" if last else None)
                table.row([left, right], style=style)

    def table_height(
        self,
        headings: tuple[str, str],
        rows: Sequence[tuple[str, str]],
        widths: tuple[float, float],
    ) -> float:
        """The height `table` will take, in mm (word wrapping measured, not guessed)."""
        pdf = self.pdf
        pdf.set_font(FAMILY, "", TABLE)
        total = 0.0
        for row in [headings, *rows]:
            lines = max(
                self.line_count(pdf.epw * share - 4.4, text)  # 4.4: the cell's side padding
                for share, text in zip(widths, row, strict=True)
            )
            total += lines * _ROW_LINE + 2 * _ROW_PAD
        return total

    def line_count(self, width: float, text: str) -> int:
        """How many lines `text` takes in `width` mm with the current font."""
        lines = self.pdf.multi_cell(width, LINE, text, dry_run=True, output="LINES")
        assert isinstance(lines, list)
        return len(lines)

    def image(self, png: bytes, *, width: float, alt: str) -> None:
        pdf = self.pdf
        from PIL import Image

        with Image.open(io.BytesIO(png)) as picture:
            ratio = picture.height / picture.width
        height = width * ratio
        self.need(height + 2)
        x = pdf.l_margin + (pdf.epw - width) / 2
        pdf.image(io.BytesIO(png), x=x, y=pdf.get_y(), w=width, alt_text=alt)
        pdf.set_y(pdf.get_y() + height + 2)


class _Report(_Layout):
    """Lays out one report; build() returns the PDF."""

    def __init__(self, content: ReportContent, now: dt.datetime | None, wanted: set[str]) -> None:
        ui = content.texts.ui
        missed: set[str] = set()
        pdf = _new_document(
            _Decor(
                header_left=content.project,
                header_right=ui(
                    "summary.pair",
                    label=ui("export.title"),
                    value=content.date(content.summary.date),
                ),
                footer_left=ui("export.confidential"),
                page_label=ui("export.page", page="{page}", pages="{pages}"),
            ),
            missed,
        )
        super().__init__(pdf, ui, now, wanted, missed)
        self.content = content

    # Setup -----------------------------------------------------------------------------------
    def build(self) -> bytes:
        pdf, ui, content = self.pdf, self.ui, self.content
        title = ui("summary.pair", label=ui("export.title"), value=content.project)
        self.setup(title, ui("summary.title"), content.summary.company or "", content.lang)

        self.title_page()
        pdf.add_page()
        self.diagnosis()
        if content.divergence is not None:
            from bot.export.divergence import add_divergence_section

            add_divergence_section(self, content.divergence)
        self.next_steps()
        self.plan()
        self.reminders()
        self.answers()
        return bytes(pdf.output())

    # Pages -----------------------------------------------------------------------------------
    def title_page(self) -> None:
        pdf, ui, content = self.pdf, self.ui, self.content
        summary = content.summary
        pdf.add_page()
        pdf.set_fill_color(*ACCENT)
        pdf.rect(0, 0, pdf.w, 9, style="F")
        pdf.set_y(42)
        pdf.set_font(FAMILY, "B", 10.5)
        pdf.set_text_color(*ACCENT)
        pdf.set_char_spacing(1.2)
        pdf.cell(0, 6, ui("export.title").upper(), new_x="LMARGIN", new_y="NEXT")
        pdf.set_char_spacing(0)
        pdf.ln(4)
        project = content.project
        size = 26 if len(project) <= 60 else 20 if len(project) <= 140 else 15
        pdf.set_font(FAMILY, "B", size)
        pdf.set_text_color(*TEXT)
        pdf.multi_cell(0, size * 0.48, project, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.8)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + 30, pdf.get_y())
        pdf.ln(8)

        rows = [
            (ui("export.company"), summary.company or ui("export.unknown")),
            (ui("export.partner"), summary.partner or ui("export.unknown")),
            (ui("export.date"), content.date(summary.date)),
            (
                ui("export.status"),
                ui("export.complete" if summary.complete else "export.incomplete"),
            ),
        ]
        self.key_values(rows)
        if not summary.complete:
            pdf.ln(3)
            self.notice(ui("summary.incomplete"))

        pdf.ln(8)
        self.verdict()
        pdf.ln(4)
        self.heading2(ui("export.key_figures"))
        self.tiles()

        pdf.set_y(pdf.h - 40)
        pdf.set_font(FAMILY, "", 8.5)
        pdf.set_text_color(*MUTED)
        prepared = ui("export.prepared", date=content.date(summary.date))
        pdf.multi_cell(0, 4.4, prepared, align="L", new_x="LMARGIN", new_y="NEXT")

    def tiles(self) -> None:
        """Four boxes: alliance type, overall readiness, red flags, next deadline."""
        pdf, ui = self.pdf, self.ui
        d = self.content.summary.diagnosis
        kind = {"strategic": "export.type_strategic", "tactical": "export.type_tactical"}
        next_due = (
            self.content.date(min(step.due for step in d.next_steps))
            if d.next_steps
            else ui("export.none")
        )
        tiles = [
            (ui("summary.type"), ui(kind.get(d.alliance_type or "", "export.type_unknown"))),
            (
                ui("summary.overall"),
                ui("summary.score", score=d.overall) if d.overall is not None else "—",
            ),
            (ui("summary.red_flags"), str(len(d.red_flags))),
            (ui("export.next_due"), next_due),
        ]
        gap = 4.0
        width = (pdf.epw - gap * (len(tiles) - 1)) / len(tiles)
        top = pdf.get_y() + 1
        height = 26.0
        for index, (label, value) in enumerate(tiles):
            x = pdf.l_margin + index * (width + gap)
            pdf.set_fill_color(*SOFT)
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.2)
            pdf.rect(x, top, width, height, style="DF")
            pdf.set_fill_color(*ACCENT)
            pdf.rect(x, top, 1.2, height, style="F")
            pdf.set_xy(x + 4, top + 3.5)
            pdf.set_font(FAMILY, "", 7.5)
            pdf.set_text_color(*MUTED)
            pdf.multi_cell(width - 6, 3.6, label.upper(), align="L", new_x="LEFT", new_y="NEXT")
            pdf.set_xy(x + 4, top + 13)
            pdf.set_font(FAMILY, "B", 13 if len(value) <= 12 else 10.5)
            pdf.set_text_color(*ACCENT)
            pdf.multi_cell(width - 6, 6, value, align="L", new_x="LEFT", new_y="NEXT")
        pdf.set_xy(pdf.l_margin, top + height + 4)

    def verdict(self) -> None:
        """The verdict: its title in the accent colour, then why."""
        verdict = self.content.summary.diagnosis.verdict
        if verdict is None:
            return
        pdf = self.pdf
        self.heading2(self.ui("advice.verdict"))
        pdf.set_font(FAMILY, "B", 13)
        pdf.set_text_color(*(ALERT if verdict.level == 0 else ACCENT))
        pdf.multi_cell(0, 6.5, verdict.title, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        self.paragraph(verdict.text)

    def diagnosis(self) -> None:
        pdf, ui = self.pdf, self.ui
        d = self.content.summary.diagnosis
        self.heading1(ui("summary.diagnosis"))
        self.heading2(ui("summary.type"))
        self.paragraph(d.type_text)
        if d.reasons:
            pdf.set_font(FAMILY, "B", 9)
            pdf.set_text_color(*MUTED)
            reasons = ui("summary.reasons").upper()
            pdf.multi_cell(0, LINE, reasons, align="L", new_x="LMARGIN", new_y="NEXT")
            self.bullets(d.reasons)
        pdf.ln(2)

        self.heading2(ui("summary.readiness"))
        assessed = assessed_stages(self.content)
        chart = charts.readiness_chart(
            [stage.title for stage in assessed],
            [stage.score for stage in assessed],
            title="",  # the section heading above says it
            not_scored=ui("summary.not_scored"),
        )
        if chart is not None:
            self.image(chart, width=pdf.epw * 0.92, alt=ui("export.charts.readiness"))
        if d.overall is not None:
            overall = ui("summary.score", score=d.overall)
            pdf.set_font(FAMILY, "B", 11)
            pdf.set_text_color(*ACCENT)
            line = ui("summary.pair", label=ui("summary.overall"), value=overall)
            pdf.multi_cell(0, 6, line, align="L", new_x="LMARGIN", new_y="NEXT")
        elif chart is None:
            self.paragraph(ui("summary.not_scored"))
        pdf.ln(3)

        self.heading2(ui("summary.red_flags"))
        if d.red_flags:
            self.bullets(flag_lines(d, self.content.texts), color=ALERT)
        else:
            self.paragraph(ui("summary.no_red_flags"))
        pdf.ln(2)
        self.side_charts()

    def side_charts(self) -> None:
        """The five shares and the attractiveness grid, side by side when both are known."""
        pdf = self.pdf
        images = side_pictures(self.content)
        if not images:
            return
        gap = 6.0
        width = (pdf.epw - gap) / 2
        height = width * charts.SIDE_SIZE[1] / charts.SIDE_SIZE[0]
        self.need(height + 4)
        top = pdf.get_y() + 2
        start = pdf.l_margin + (0 if len(images) == 2 else (pdf.epw - width) / 2)
        for index, (png, alt) in enumerate(images):
            pdf.image(
                io.BytesIO(png), x=start + index * (width + gap), y=top, w=width, alt_text=alt
            )
        pdf.set_y(top + height + 4)

    def next_steps(self) -> None:
        ui, date = self.ui, self.content.date
        d = self.content.summary.diagnosis
        if not d.next_steps:
            self.heading1(ui("summary.next_steps"))
            self.paragraph(ui("summary.no_next_steps"))
            return
        rows = []
        for index, step in enumerate(d.priorities, start=1):
            text = f"{index}. {step.text}"
            if step.why:
                text += "\n" + ui("advice.why_first", why=step.why)
            rows.append((date(step.due), text))
        self.titled_table(
            ui("summary.next_steps"),
            (ui("export.due"), ui("advice.priorities")),
            rows,
            (0.2, 0.8),
        )
        for group in d.then:
            self.titled_table(
                ui("summary.pair", label=ui("advice.then"), value=group.title),
                (ui("export.due"), ui("export.action")),
                [(date(step.due), step.text) for step in group.steps],
                (0.2, 0.8),
                level=2,
            )

    def plan(self) -> None:
        plan = self.content.plan
        if plan is None:
            return
        ui, date = self.ui, self.content.date
        notes = self.content.plan_notes()
        count = len(plan.sessions)
        rows = [
            (date(day), ui("export.session", n=n, count=count))
            for n, day in enumerate(plan.sessions, start=1)
        ]
        rows.append((date(plan.go_no_go), ui("export.go_no_go")))
        self.titled_table(
            ui("export.plan"),
            (ui("export.day"), ui("export.step")),
            rows,
            (0.2, 0.8),
            notes=notes,
            bold_last=True,
        )

    def reminders(self) -> None:
        if not self.content.reminders:
            return
        ui = self.ui
        self.titled_table(
            ui("export.reminders"),
            (ui("export.day"), ui("export.reminder")),
            [(self.content.moment(r.due), r.text) for r in self.content.reminders],
            (0.27, 0.73),
        )

    def answers(self) -> None:
        pdf, ui = self.pdf, self.ui
        pdf.add_page()
        self.heading1(ui("export.answers"))
        if not self.content.summary.complete:
            self.notice(ui("summary.incomplete"))
            pdf.ln(2)
        for stage in self.content.summary.stages:
            if not stage.answers:
                continue
            self.titled_table(
                stage.title,
                (ui("export.question"), ui("export.answer")),
                [(line.label, line.display) for line in stage.answers],
                (0.34, 0.66),
                level=2,
            )


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """`text` on one line, cut with an ellipsis so that it fits in `width` mm."""
    text = " ".join(text.split())
    if pdf.get_string_width(text) <= width:
        return text
    low, high = 0, len(text)  # the longest prefix that fits, by bisection: few measurements
    while low < high:
        middle = (low + high + 1) // 2
        if pdf.get_string_width(text[:middle].rstrip() + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"
