"""Bar chart geometry for server-rendered inline SVG (no JavaScript, no CDN).

The template draws what these functions compute; every bar carries its value in a
<title> for hover, and each chart sits beside a table with the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import number_format


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    title: str
    label_x: float = 0.0
    label_y: float = 0.0
    value_x: float = 0.0
    show_label: bool = True


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    baseline: float = 0.0
    plot_left: float = 0.0
    plot_right: float = 0.0
    empty: bool = True

    @property
    def tick_x(self) -> float:
        return self.plot_left - 6


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return 10 * magnitude


def column_chart(points: Sequence[tuple[str, int]], *, width: int = 960, height: int = 220, label_every: int = 1) -> Chart:
    """Vertical bars, one per point (e.g. credits per day), with a labelled y axis."""
    left, right, top, bottom = 56.0, 8.0, 10.0, 28.0
    chart = Chart(width=width, height=height, plot_left=left, plot_right=width - right)
    plot_h = height - top - bottom
    chart.baseline = top + plot_h
    peak = max((v for _, v in points), default=0)
    chart.empty = peak == 0
    axis_max = _nice_max(peak)
    for i in range(5):
        value = axis_max * i / 4
        chart.ticks.append(Tick(y=chart.baseline - plot_h * i / 4, text=number_format(round(value), force_grouping=True)))
    if not points:
        return chart
    slot = (width - left - right) / len(points)
    bar_w = max(slot * 0.72, 1.0)
    for i, (label, value) in enumerate(points):
        h = plot_h * value / axis_max
        x = left + i * slot + (slot - bar_w) / 2
        chart.bars.append(
            Bar(
                x=round(x, 2),
                y=round(chart.baseline - h, 2),
                width=round(bar_w, 2),
                height=round(h, 2),
                label=label,
                value=value,
                title=f"{label}: {number_format(value, force_grouping=True)} credits",
                label_x=round(x + bar_w / 2, 2),
                label_y=chart.baseline + 16,
                show_label=i % max(label_every, 1) == 0,
            )
        )
    return chart


def bar_chart(rows: Sequence[tuple[str, int]], *, width: int = 520, row_height: int = 26) -> Chart:
    """Horizontal bars, one per row (member, model, tier), labels on the left, values on the right."""
    label_w, value_w, pad = 170.0, 70.0, 6.0
    height = max(len(rows), 1) * row_height + 2 * int(pad)
    chart = Chart(width=width, height=height, plot_left=label_w, plot_right=width - value_w)
    peak = max((v for _, v in rows), default=0)
    chart.empty = peak == 0
    span = width - label_w - value_w
    for i, (label, value) in enumerate(rows):
        w = span * value / peak if peak else 0
        y = pad + i * row_height
        chart.bars.append(
            Bar(
                x=label_w,
                y=y + 4,
                width=round(max(w, 1.0 if value else 0.0), 2),
                height=row_height - 8,
                label=label if len(label) <= 24 else label[:23] + "…",
                value=value,
                title=f"{label}: {number_format(value, force_grouping=True)} credits",
                label_x=label_w - 8,
                label_y=y + row_height / 2 + 4,
                value_x=round(label_w + max(w, 1.0 if value else 0.0) + 6, 2),
            )
        )
    return chart
