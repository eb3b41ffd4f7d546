"""The summary's charts with their captions, for the PDF and for the chat.

Imports matplotlib (through charts) only when called.
"""

from __future__ import annotations

from bot.dialogue.diagnosis import StageScore
from bot.export import charts
from bot.export.content import GRID, SHARES, ReportContent


def assessed_stages(content: ReportContent) -> list[StageScore]:
    """The stages whose readiness is assessed: a stage without preparation questions on the
    walk's path (the introduction, the objectives) has no bar."""
    return [stage for stage in content.summary.diagnosis.readiness if stage.score is not None]


def readiness_picture(content: ReportContent) -> tuple[bytes, str] | None:
    """Readiness per assessed stage as horizontal bars."""
    ui = content.texts.ui
    readiness = assessed_stages(content)
    chart = charts.readiness_chart(
        [stage.title for stage in readiness],
        [stage.score for stage in readiness],
        title=ui("export.charts.readiness"),
        not_scored=ui("summary.not_scored"),
    )
    return (chart, ui("export.charts.readiness")) if chart is not None else None


def side_pictures(content: ReportContent) -> list[tuple[bytes, str]]:
    """The five shares as a radar and the attractiveness/strengths grid, when answered."""
    ui = content.texts.ui
    images: list[tuple[bytes, str]] = []
    shares = [content.scales.get(qid) for qid, _ in SHARES]
    if all(scale is not None for scale in shares):
        known = [scale for scale in shares if scale is not None]
        chart = charts.shares_chart(
            [ui(key) for _, key in SHARES],
            [scale.value for scale in known],
            title=ui("export.charts.shares"),
            unknown=ui("export.charts.unknown", label="{label}"),
            minimum=min(scale.minimum for scale in known),
            maximum=max(scale.maximum for scale in known),
        )
        if chart is not None:
            images.append((chart, ui("export.charts.shares")))
    attractiveness, strengths = (content.scales.get(qid) for qid in GRID)
    if attractiveness is not None and strengths is not None:
        chart = charts.grid_chart(
            attractiveness.value,
            strengths.value,
            title=ui("export.charts.grid"),
            x_label=ui("export.charts.grid_x"),
            y_label=ui("export.charts.grid_y"),
            quadrants=(
                ui("export.charts.grid_high_low"),
                ui("export.charts.grid_high_high"),
                ui("export.charts.grid_low_low"),
                ui("export.charts.grid_low_high"),
            ),
            point_label=ui("export.charts.grid_point"),
            minimum=min(attractiveness.minimum, strengths.minimum),
            maximum=max(attractiveness.maximum, strengths.maximum),
        )
        if chart is not None:
            images.append((chart, ui("export.charts.grid")))
    return images


def summary_pictures(content: ReportContent) -> list[tuple[bytes, str]]:
    """Every chart of the summary, in reading order."""
    readiness = readiness_picture(content)
    return ([readiness] if readiness else []) + side_pictures(content)
