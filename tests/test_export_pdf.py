"""The PDF report, read back by an independent reader (pypdf), and its charts."""

import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from bot.export import charts, pdf
from bot.export.pdf import render_pdf
from tests.test_export_fixtures import (
    ACCENTS,
    ARABIC,
    CJK,
    CURLY,
    CYRILLIC,
    EMOJI,
    NOT_YET,
    NOW,
    answers_for,
    content_for,
    load_engine,
)


@pytest.fixture(scope="module")
def export_engine(tmp_path_factory):
    return load_engine(tmp_path_factory.mktemp("dialogue"))


PNG = b"\x89PNG\r\n\x1a\n"
REMINDERS = ((dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC), f"Relancer {CYRILLIC}"),)


def flat(text):
    return re.sub(r"\s+", "", text)


def shown(text, document):
    """`text` is in the document's text layer. Right-to-left runs may come out in visual
    order (reversed) when the PDF was laid out without the optional shaping engine."""
    return flat(text) in document or flat(text)[::-1] in document


def fonts(reader):
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


def images(page):
    xobjects = page["/Resources"].get("/XObject", {})
    return [x for x in xobjects.values() if x.get_object()["/Subtype"] == "/Image"]


@pytest.fixture(scope="module")
def report(export_engine):
    answers = answers_for(
        export_engine,
        {
            "company": ACCENTS,
            "partner": ARABIC,
            "kind": "competitor",
            "coop": NOT_YET,
            "prep_sessions": 4,
            "prep_months": 3,
            "attractiveness": 4,
            "strengths": 2,
            "shares_risks": NOT_YET,
            "key_factors": f"{CURLY}\n{EMOJI}\n{CJK}",
            "note": CYRILLIC,
        },
    )
    content = content_for(export_engine, answers, reminders=REMINDERS)
    data = render_pdf(content, now=NOW)
    reader = PdfReader(io.BytesIO(data))
    pages = [page.extract_text() for page in reader.pages]
    return content, data, reader, pages


def test_every_answer_is_in_the_text(report):
    content, _, _, pages = report
    document = flat("".join(pages))
    for stage in content.summary.stages:
        assert shown(stage.title, document)
        for line in stage.answers:
            assert shown(line.label, document)
            for part in line.display.split("\n"):
                assert shown(part, document), part
    for sample in (ACCENTS, ARABIC, CURLY, EMOJI, CJK, CYRILLIC):
        assert shown(sample, document), sample


def test_diagnosis_next_steps_plan_and_reminders_are_in_the_text(report):
    content, _, _, pages = report
    document = flat("".join(pages))
    d = content.summary.diagnosis
    assert shown(d.type_text, document)
    for flag in d.red_flags:
        assert shown(flag.text, document)
    for step in d.next_steps:
        assert shown(step.text, document)
        assert shown(content.date(step.due), document)
    plan = content.plan
    assert plan is not None
    for day in (*plan.sessions, plan.go_no_go):
        assert shown(content.date(day), document)
    assert shown("Décision : poursuivre ou non l’alliance", document)
    assert shown(f"3 décembre 2026 à 09:00 Relancer {CYRILLIC}", document)  # Paris time
    assert shown("Maturité globale", document)


def test_pages_have_numbers_header_and_footer(report):
    content, _, reader, pages = report
    count = len(reader.pages)
    assert count >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} sur {count}" in text
        assert "Confidentiel" in text
    assert "RAPPORT D’ALLIANCE" in pages[0]
    assert all(flat(content.date(content.summary.date)) in flat(text) for text in pages[1:])


def test_title_page_has_the_key_figures(report):
    content, _, _, pages = report
    cover = flat(pages[0])
    verdict = content.summary.diagnosis.verdict
    assert verdict is not None
    assert shown(verdict.title, flat(pages[0]))  # the verdict opens the report
    assert shown(verdict.text, flat(pages[0]))
    for label in (
        "Entreprise",
        "Partenaire",
        "Date du rapport",
        "26 novembre 2026",
        "L’essentiel",
    ):
        assert flat(label) in cover
    assert flat(f"{content.summary.diagnosis.overall}/100") in cover


def test_metadata(report):
    content, _, reader, _ = report
    meta = reader.metadata
    assert meta.title.startswith("Rapport d’alliance : ")
    assert ACCENTS in meta.title
    assert meta.creator == "alliance-bot"
    assert meta.creation_date.replace(tzinfo=dt.UTC) == NOW
    assert reader.trailer["/Root"]["/Lang"] == content.lang


def test_charts_are_images_on_the_diagnosis_page(report):
    _, _, reader, pages = report
    page = next(i for i, text in enumerate(pages) if "Diagnostic" in text)
    assert len(images(reader.pages[page])) == 3  # readiness, shares, grid


def test_unicode_fallback_font_only_when_needed(report, export_engine):
    _, _, reader, _ = report
    embedded = fonts(reader)
    assert any("DejaVuSans" in name for name in embedded)
    assert any("LastResort" in name for name in embedded)  # CJK and emoji drawn as boxes
    latin = content_for(export_engine, answers_for(export_engine))
    plain = PdfReader(io.BytesIO(render_pdf(latin, now=NOW)))
    assert not any("LastResort" in name for name in fonts(plain))
    assert len(images(plain.pages[1])) == 3


def test_characters_missed_by_the_content_walk_are_still_drawn(export_engine, monkeypatch):
    monkeypatch.setattr(pdf, "_characters", lambda content: set())
    for name in ("readiness_chart", "shares_chart", "grid_chart"):  # not the subject: faster
        monkeypatch.setattr(charts, name, lambda *args, **kwargs: None)
    content = content_for(export_engine, answers_for(export_engine, {"company": CJK}))
    reader = PdfReader(io.BytesIO(render_pdf(content, now=NOW)))
    assert flat(CJK) in flat("".join(page.extract_text() for page in reader.pages))
    assert any("LastResort" in name for name in fonts(reader))


@pytest.mark.parametrize("walk_misses_them", [False, True])
def test_latin_and_cyrillic_letters_are_drawn_by_dejavu_never_as_boxes(
    export_engine, monkeypatch, walk_misses_them
):
    if walk_misses_them:  # the layout meets them first: the report is laid out again
        monkeypatch.setattr(pdf, "_characters", lambda content: set())
    for name in ("readiness_chart", "shares_chart", "grid_chart"):  # not the subject: faster
        monkeypatch.setattr(charts, name, lambda *args, **kwargs: None)
    for company in (ACCENTS, CURLY, CYRILLIC):
        content = content_for(export_engine, answers_for(export_engine, {"company": company}))
        reader = PdfReader(io.BytesIO(render_pdf(content, now=NOW)))
        assert flat(company) in flat("".join(page.extract_text() for page in reader.pages))
        embedded = fonts(reader)
        assert any("DejaVuSans" in name for name in embedded)
        assert not any("LastResort" in name for name in embedded), company


def test_the_faces_chosen_draw_every_character_of_the_report():
    from fontTools.ttLib import TTFont

    for sample in (ACCENTS + CURLY + "€ → ≤ ■ ✓", CYRILLIC, ARABIC):
        wanted = set(sample)
        for face in pdf.text_faces(wanted):
            drawn = set(TTFont(face).getBestCmap())
            assert {ord(char) for char in wanted} <= drawn, (sample, face)


def test_interim_report_without_plan_shares_or_grid(export_engine):
    content = content_for(export_engine, {"company": "Acme"}, lang="en", done=False)
    reader = PdfReader(io.BytesIO(render_pdf(content, now=NOW)))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Interim summary" in text
    assert "Preparation plan" not in text
    assert "Page 1 of" in text
    assert sum(len(images(page)) for page in reader.pages) == 1  # readiness (0): no shares, grid


# Charts -----------------------------------------------------------------------------------------
def test_readiness_chart():
    png = charts.readiness_chart(["A", "B", "C"], [80, None, 10], title="T", not_scored="n/a")
    assert png is not None
    assert png.startswith(PNG)
    assert charts.readiness_chart(["A"], [None], title="T", not_scored="n/a") is None
    with pytest.raises(ValueError, match="one score per label"):
        charts.readiness_chart(["A"], [1, 2], title="T", not_scored="n/a")


def test_a_chart_drawn_again_from_the_same_data_is_the_same_and_other_data_another():
    first = charts.readiness_chart(["A", "B"], [80, 20], title="T", not_scored="n/a")
    other = charts.readiness_chart(["A", "B"], [20, 80], title="T", not_scored="n/a")
    untitled = charts.readiness_chart(["A", "B"], [80, 20], title="", not_scored="n/a")
    again = charts.readiness_chart(["A", "B"], [80, 20], title="T", not_scored="n/a")
    assert first == again
    assert len({first, other, untitled}) == 3


def test_shares_chart():
    labels = ["Vision", "Gains", "Risques", "Pouvoirs", "Identité"]
    png = charts.shares_chart(labels, [5, 1, None, 3, 4], title="T", unknown="{label} (?)")
    assert png is not None
    assert png.startswith(PNG)
    few = charts.shares_chart(labels, [5, None, None, None, 4], title="T", unknown="{label}")
    assert few is None


def test_grid_chart():
    kwargs = {
        "title": "T",
        "x_label": "x",
        "y_label": "y",
        "quadrants": ("a", "b", "c", "d"),
        "point_label": "p",
    }
    for attractiveness, strengths in ((1, 5), (5, 3)):
        png = charts.grid_chart(attractiveness, strengths, **kwargs)
        assert png is not None
    assert png.startswith(PNG)
    assert charts.grid_chart(None, 4, **kwargs) is None
    assert charts.grid_chart(4, None, **kwargs) is None


def test_the_everyday_faces_are_dejavu_cut_to_the_everyday_characters():
    from fontTools.ttLib import TTFont

    for kind in ("regular", "bold"):
        whole, cut = (TTFont(pdf.font_path(k)) for k in (kind, f"everyday {kind}"))
        whole_map, cut_map = whole.getBestCmap(), cut.getBestCmap()
        assert set(cut_map) == {code for code in whole_map if code in pdf.EVERYDAY}
        for code, glyph in cut_map.items():  # the same advance, the same outline
            original = whole_map[code]
            assert cut["hmtx"][glyph] == whole["hmtx"][original]
            outline = cut["glyf"][glyph].getCoordinates(cut["glyf"])[0]
            assert outline == whole["glyf"][original].getCoordinates(whole["glyf"])[0]


def test_fonts_ship_with_their_licences():
    for kind in ("regular", "bold", "fallback", "everyday regular", "everyday bold"):
        assert pdf.font_path(kind).parent == pdf.FONTS_DIR
    assert (pdf.FONTS_DIR / "LICENSE_DEJAVU").is_file()
    assert "Open Font License" in (pdf.FONTS_DIR / "LICENSE_LASTRESORT").read_text()
