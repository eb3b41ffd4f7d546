"""PNG charts for the PDF report: readiness per stage, the five shares, the attractiveness grid,
and both partners' views on one radar.

Each function takes plain data (labels already in the user's language, values) and returns PNG
bytes, or None when the data it needs is missing. matplotlib is imported inside the functions so
that importing bot.export costs nothing until a chart is drawn; it draws with the Agg backend
through Figure objects (no pyplot and so no global state).
"""

from __future__ import annotations

import functools
import io
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, ParamSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ACCENT = "#1f3a5f"  # the report's dark blue
ACCENT_LIGHT = "#c9d6e8"
MUTED = "#6b7280"
GOOD, MIDDLE, WEAK = "#2e7d4f", "#c98a1b", "#b23b3b"
DPI = 200
SIDE_SIZE = (3.8, 3.5)  # inches: the radar and the grid, printed side by side on A4
FONT = "DejaVu Sans"  # ships with matplotlib; the PDF's text uses the same face
_P = ParamSpec("_P")


def _styled(draw: Callable[_P, bytes | None]) -> Callable[_P, bytes | None]:
    """Run a chart function under the report's style, whatever the local matplotlibrc says;
    the last charts drawn are kept (`KEPT`), by everything they are drawn from: the summary's
    charts drawn again for a PDF of the same answers, or a second PDF, cost nothing."""

    @functools.wraps(draw)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> bytes | None:
        key = (draw.__name__, _frozen(args), _frozen(sorted(kwargs.items())))
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
        from matplotlib import rc_context  # lazily: matplotlib is slow to import

        # DejaVu Sans is matplotlib's own default; a local matplotlibrc may say otherwise.
        with rc_context({"font.family": "sans-serif", "font.sans-serif": [FONT]}):
            chart = draw(*args, **kwargs)
        _kept[key] = chart
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
        return chart

    return wrapper


KEPT = 24  # charts kept in memory (a few hundred kB)
_kept: OrderedDict[Hashable, bytes | None] = OrderedDict()


def _frozen(value: object) -> Hashable:
    """`value` with its lists and tuples (nested) as tuples: a key for `_kept`."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    assert isinstance(value, Hashable)
    return value


@_styled
def readiness_chart(
    labels: Sequence[str], scores: Sequence[int | None], *, title: str, not_scored: str
) -> bytes | None:
    """Horizontal bars, one per stage, 0-100; a stage without a score says `not_scored`.

    An empty `title` draws none (when the page around the chart already says it). Returns None
    when no stage has a score.
    """
    if len(labels) != len(scores):
        raise ValueError("one score per label")
    if not any(score is not None for score in scores):
        return None
    top = 0.55 if title else 0.12  # inches above the bars
    height = 0.45 + top + 0.42 * len(labels)
    figure = _figure(6.8, height)
    axes = figure.add_axes((0.36, 0.4 / height, 0.58, 1 - (0.4 + top) / height))
    rows = list(range(len(labels)))[::-1]  # the first stage on top
    values = [score or 0 for score in scores]
    colors = [_tone(score) for score in scores]
    axes.barh(rows, [100] * len(rows), color="#eef1f5", height=0.62, zorder=1)
    axes.barh(rows, values, color=colors, height=0.62, zorder=2)
    for row, score in zip(rows, scores, strict=True):
        if score is None:
            axes.text(2, row, not_scored, va="center", ha="left", color=MUTED, fontsize=8.5)
        else:
            inside = score >= 16
            axes.text(
                score - 1.5 if inside else score + 1.5,
                row,
                str(score),
                va="center",
                ha="right" if inside else "left",
                color="white" if inside else ACCENT,
                fontsize=9,
                fontweight="bold",
                zorder=3,
            )
    axes.set_yticks(rows, [_wrap(label, 30) for label in labels], fontsize=9)
    axes.set_xlim(0, 100)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.tick_params(axis="x", labelsize=8, colors=MUTED)
    axes.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color("#d1d5db")
    if title:
        figure.suptitle(title, x=0.02, ha="left", fontsize=11, color=ACCENT, fontweight="bold")
    return _png(figure)


@_styled
def shares_chart(
    labels: Sequence[str],
    values: Sequence[int | None],
    *,
    title: str,
    unknown: str,
    minimum: int = 1,
    maximum: int = 5,
) -> bytes | None:
    """A radar of the five shares (vision, gains, risks, powers, identity), each 1-5.

    An axis without a value ("not yet") is drawn at the centre and its label formatted with
    `unknown` (a "{label}" template). Returns None when fewer than three values are known: a
    radar of two points says nothing.
    """
    if len(labels) != len(values) or len(labels) < 3:
        raise ValueError("at least three axes, one value per label")
    if sum(value is not None for value in values) < 3:
        return None
    count = len(labels)
    angles = [2 * math.pi * i / count for i in range(count)]
    points = [value if value is not None else minimum for value in values]
    figure = _figure(*SIDE_SIZE)
    from matplotlib.projections.polar import PolarAxes

    axes = figure.add_axes((0.2, 0.1, 0.6, 0.7), projection="polar")
    assert isinstance(axes, PolarAxes)
    axes.set_theta_offset(math.pi / 2)  # the first share at the top, then clockwise
    axes.set_theta_direction(-1)
    closed = [*angles, angles[0]]
    axes.fill(closed, [*points, points[0]], color=ACCENT, alpha=0.18, zorder=2)
    axes.plot(closed, [*points, points[0]], color=ACCENT, linewidth=2, zorder=3)
    axes.scatter(
        angles,
        points,
        s=28,
        zorder=4,
        color=[_tone(_percent(v, minimum, maximum)) if v is not None else MUTED for v in values],
    )
    axes.set_ylim(0, maximum + 0.3)  # room for a point on the outer circle
    axes.set_yticks(
        list(range(minimum, maximum + 1)), [str(n) for n in range(minimum, maximum + 1)]
    )
    axes.tick_params(axis="y", labelsize=7, labelcolor=MUTED)
    axes.set_rlabel_position(180 / count)
    axes.set_xticks(angles)
    names = [
        label if value is not None else unknown.format(label=label)
        for label, value in zip(labels, values, strict=True)
    ]
    axes.set_xticklabels([_wrap(name, 16) for name in names], fontsize=8, color=ACCENT)
    axes.tick_params(axis="x", pad=6)
    axes.grid(color="#d1d5db", linewidth=0.7)
    axes.spines["polar"].set_color("#d1d5db")
    figure.suptitle(title, x=0.03, ha="left", fontsize=10, color=ACCENT, fontweight="bold")
    return _png(figure)


PARTNER = "#c98a1b"  # the second side on the divergence radar: amber against the dark blue


@_styled
def divergence_chart(
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    *,
    names: tuple[str, str],
    title: str,
    minimum: int = 1,
    maximum: int = 5,
) -> bytes | None:
    """A radar with two polygons: each side's rating of the same dimensions, on one scale.

    `names` label the two polygons in a legend (the reader's side first). Returns None with
    fewer than three dimensions: a radar of two points says nothing.
    """
    if not len(labels) == len(first) == len(second):
        raise ValueError("one value per label on each side")
    if len(labels) < 3:
        return None
    count = len(labels)
    angles = [2 * math.pi * i / count for i in range(count)]
    closed = [*angles, angles[0]]
    figure = _figure(5.2, 4.6)
    from matplotlib.projections.polar import PolarAxes

    axes = figure.add_axes((0.2, 0.14, 0.6, 0.66), projection="polar")
    assert isinstance(axes, PolarAxes)
    axes.set_theta_offset(math.pi / 2)
    axes.set_theta_direction(-1)
    for values, color, name, style in (
        (first, ACCENT, names[0], "-"),
        (second, PARTNER, names[1], "--"),
    ):
        points = [*values, values[0]]
        axes.fill(closed, points, color=color, alpha=0.14, zorder=2)
        axes.plot(closed, points, color=color, linewidth=2, linestyle=style, label=name, zorder=3)
        axes.scatter(angles, list(values), s=22, color=color, zorder=4)
    axes.set_ylim(0, maximum + 0.3)
    axes.set_yticks(
        list(range(minimum, maximum + 1)), [str(n) for n in range(minimum, maximum + 1)]
    )
    axes.tick_params(axis="y", labelsize=7, labelcolor=MUTED)
    axes.set_rlabel_position(180 / count)
    axes.set_xticks(angles)
    axes.set_xticklabels([_wrap(label, 16) for label in labels], fontsize=7.5, color=ACCENT)
    axes.tick_params(axis="x", pad=9)
    axes.grid(color="#d1d5db", linewidth=0.7)
    axes.spines["polar"].set_color("#d1d5db")
    figure.legend(loc="lower center", ncol=2, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    figure.suptitle(title, x=0.03, ha="left", fontsize=10, color=ACCENT, fontweight="bold")
    return _png(figure)


@_styled
def grid_chart(
    attractiveness: int | None,
    strengths: int | None,
    *,
    title: str,
    x_label: str,
    y_label: str,
    quadrants: tuple[str, str, str, str],
    point_label: str,
    minimum: int = 1,
    maximum: int = 5,
) -> bytes | None:
    """The attractiveness/strengths grid as a 2x2 matrix with the alliance placed on it.

    Strengths run along x, attractiveness along y, both from `minimum` to `maximum`, split at
    the middle of the scale. `quadrants` names them in reading order: high attractiveness and
    low strengths, high and high, low and low, low attractiveness and high strengths. Returns
    None unless both values are known.
    """
    if attractiveness is None or strengths is None:
        return None
    low, high = minimum - 0.5, maximum + 0.5
    middle = (minimum + maximum) / 2
    figure = _figure(*SIDE_SIZE)
    axes = figure.add_axes((0.15, 0.14, 0.8, 0.72))
    shades = (("#fdf3e1", "#e3f1e8"), ("#f8e3e3", "#fdf3e1"))  # [row][col]: top row first
    for row, (bottom, top) in enumerate(((middle, high), (low, middle))):
        for col, (left, right) in enumerate(((low, middle), (middle, high))):
            axes.fill_between(
                [left, right], bottom, top, color=shades[row][col], linewidth=0, zorder=0
            )
            axes.text(
                (left + right) / 2,
                top - 0.18 if row == 0 else bottom + 0.18,
                _wrap(quadrants[2 * row + col], 24),
                ha="center",
                va="top" if row == 0 else "bottom",
                fontsize=7,
                color=MUTED,
                zorder=1,
            )
    axes.axhline(middle, color="#9ca3af", linewidth=1, zorder=1)
    axes.axvline(middle, color="#9ca3af", linewidth=1, zorder=1)
    axes.scatter([strengths], [attractiveness], s=130, color=ACCENT, zorder=3, edgecolors="white")
    axes.annotate(
        point_label,
        (strengths, attractiveness),
        xytext=(0, -13 if attractiveness > middle else 12),
        textcoords="offset points",
        # at either edge the label grows inwards, so that it stays inside the grid
        ha="right" if strengths >= maximum else "left" if strengths <= minimum else "center",
        va="center",
        fontsize=8,
        fontweight="bold",
        color=ACCENT,
        zorder=4,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none"},
    )
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    ticks = list(range(minimum, maximum + 1))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.tick_params(labelsize=7, colors=MUTED)
    axes.set_xlabel(x_label, fontsize=8, color=ACCENT)
    axes.set_ylabel(y_label, fontsize=8, color=ACCENT)
    for spine in axes.spines.values():
        spine.set_color("#d1d5db")
    figure.suptitle(title, x=0.03, ha="left", fontsize=10, color=ACCENT, fontweight="bold")
    return _png(figure)


# Helpers -----------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.set_facecolor("white")
    return figure


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself to the figure
    buffer = io.BytesIO()
    # Metadata without the matplotlib version: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _percent(value: int, minimum: int, maximum: int) -> int:
    return round(100 * (value - minimum) / (maximum - minimum))


def _tone(score: int | None) -> str:
    if score is None:
        return MUTED
    if score >= 67:
        return GOOD
    if score >= 40:
        return MIDDLE
    return WEAK


def _wrap(text: str, width: int) -> str:
    """Break a label on spaces into lines of about `width` characters; a long label breaks
    before a parenthesis first."""
    if len(text) > width and " (" in text:
        head, _, tail = text.partition(" (")
        return _wrap(head, width) + "\n" + _wrap("(" + tail, width)
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)
