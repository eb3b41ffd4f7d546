"""The funnel chart of the analytics page, as inline SVG: geometry here, markup in the template.

Only numbers and escaped labels reach the SVG (the template escapes them), and no style
attribute: the page's Content-Security-Policy allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.advisors.analytics import FunnelStep

ROW = 18  # pixels per question
LABEL = 44  # room for "2.3" on the left
BAR = 520  # the widest bar
COUNT = 56  # room for the count on the right


@dataclass(frozen=True)
class Bar:
    y: int
    width: int
    number: str  # "2.3"
    title: str  # the question, for the tooltip
    count: str  # what is written after the bar
    hidden: bool
    shade: int  # 0 or 1: alternate stages
    stopped_width: int  # the part of the bar that stopped here


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    label: int
    row: int


def funnel_chart(steps: Sequence[FunnelStep], hidden_text: str = "") -> Chart:
    """One horizontal bar per question, as long as the projects that reached it."""
    widest = max((s.reached.value for s in steps if not s.reached.hidden), default=0) or 1
    bars = []
    stage = ""
    shade = 1
    for index, step in enumerate(steps):
        if step.stage_title != stage:
            stage, shade = step.stage_title, 1 - shade
        reached = 0 if step.reached.hidden else round(BAR * step.reached.value / widest)
        stopped = 0 if step.stopped.hidden else round(BAR * step.stopped.value / widest)
        bars.append(
            Bar(
                y=index * ROW,
                width=reached,
                number=step.number,
                title=f"{step.number} {step.stage_title} · {step.label}",
                count=hidden_text if step.reached.hidden else f"{step.reached.value:g}",
                hidden=step.reached.hidden,
                shade=shade,
                stopped_width=min(stopped, reached),
            )
        )
    return Chart(
        width=LABEL + BAR + COUNT,
        height=max(len(bars), 1) * ROW,
        bars=tuple(bars),
        label=LABEL,
        row=ROW,
    )
