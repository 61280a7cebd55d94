"""Inline SVG charts for the report: drawn here so the page needs no script and no network.

Each chart is a pure function of its numbers. Every run with a WER is one ``circle.point``
(its ``<title>`` names the run and value, so hovering tells), and the interval is a band and
whiskers around the line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STATUS_COLOURS = {
    "OK": "#1f6feb",
    "IMPROVED": "#1a7f37",
    "REGRESSION": "#cf222e",
    "FAILED": "#6e7781",
}


@dataclass(frozen=True)
class ChartPoint:
    label: str  # the run id
    wer: float | None  # None: the run scored nothing (drawn as a cross on the axis)
    low: float | None
    high: float | None
    status: str
    current: bool = False


def _nice_ceiling(value: float) -> float:
    """A round axis top at or above ``value`` (0.05, 0.1, 0.2, 0.25, 0.5, 1 ...)."""
    if value <= 0:
        return 0.1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def trend_chart(points: Sequence[ChartPoint], width: int = 720, height: int = 240) -> str:
    """Corpus WER with its interval over runs, oldest on the left."""
    left, right, top, bottom = 52, 16, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    highs = [p.high if p.high is not None else p.wer for p in points if p.wer is not None]
    y_max = _nice_ceiling(max(highs, default=0.1) * 1.1)
    step = plot_w / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return left + (index * step if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - min(value, y_max) / y_max)

    parts = [
        f'<svg class="trend" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="corpus WER over the last runs">'
    ]
    for tick in range(5):
        value = y_max * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#eaeef2"/><text x="{left - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end" class="axis">{_percent(value)}</text>'
        )
    scored = [(i, p) for i, p in enumerate(points) if p.wer is not None]
    band = [(i, p) for i, p in scored if p.low is not None and p.high is not None]
    if len(band) > 1:
        upper = " ".join(f"{x(i):.1f},{y(p.high):.1f}" for i, p in band)  # type: ignore[arg-type]
        lower = " ".join(f"{x(i):.1f},{y(p.low):.1f}" for i, p in reversed(band))  # type: ignore[arg-type]
        parts.append(
            f'<polygon class="band" points="{upper} {lower}" fill="#1f6feb" opacity=".12"/>'
        )
    if len(scored) > 1:
        line = " ".join(f"{x(i):.1f},{y(p.wer):.1f}" for i, p in scored)  # type: ignore[arg-type]
        parts.append(f'<polyline points="{line}" fill="none" stroke="#57606a" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        colour = STATUS_COLOURS.get(p.status, "#57606a")
        if p.wer is None:
            cx, cy = x(i), y(0)
            parts.append(
                f'<path class="no-wer" d="M{cx - 5:.1f},{cy - 5:.1f}l10,10m0,-10l-10,10" '
                f'stroke="{colour}" stroke-width="2"><title>{escape(p.label)}: {escape(p.status)}, '
                f"no WER</title></path>"
            )
            continue
        if p.low is not None and p.high is not None:
            parts.append(
                f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(p.low):.1f}" y2="{y(p.high):.1f}" '
                f'stroke="{colour}" stroke-width="1"/>'
            )
        interval = (
            f" ({_percent(p.low)} to {_percent(p.high)})"
            if p.low is not None and p.high is not None
            else ""
        )
        radius = 6 if p.current else 4.5
        parts.append(
            f'<circle class="point{" current" if p.current else ""}" cx="{x(i):.1f}" '
            f'cy="{y(p.wer):.1f}" r="{radius}" fill="{colour}" stroke="#fff" stroke-width="1.5">'
            f"<title>{escape(p.label)}: {escape(p.status)}, corpus WER {_percent(p.wer)}"
            f"{interval}</title></circle>"
        )
    for i, p in enumerate(points):
        if len(points) <= 12 or i % math.ceil(len(points) / 12) == 0 or p.current:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="axis">{escape(p.label[5:10])}</text>'
                f'<text x="{x(i):.1f}" y="{height - bottom + 30}" text-anchor="middle" '
                f'class="axis">{escape(p.label[11:16].replace("-", ":"))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[float | None], width: int = 96, height: int = 20) -> str:
    """A file's WER across runs; the last value is a dot; gaps where it was not scored."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max(max(known), 0.05)
    step = (width - 4) / max(len(values) - 1, 1)

    def point(index: int, value: float) -> str:
        return f"{2 + index * step:.1f},{height - 2 - (height - 4) * min(value, top) / top:.1f}"

    segments, current = [], []
    for index, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(point(index, value))
    if current:
        segments.append(current)
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg" aria-hidden="true">'
    ]
    parts += [
        f'<polyline points="{" ".join(s)}" fill="none" stroke="#57606a" stroke-width="1.2"/>'
        for s in segments
        if len(s) > 1
    ]
    if values[-1] is not None:
        cx, cy = point(len(values) - 1, values[-1]).split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.2" fill="#cf222e"/>')
    parts.append("</svg>")
    return "".join(parts)
