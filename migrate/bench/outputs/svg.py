"""Small inline SVG line charts for the HTML report: no plotting library, no script, no external request.
Every text placed in a chart (titles, legend names, tick labels) is escaped by ``markupsafe``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 80


@dataclass
class Series:
    name: str
    color: str
    points: list[tuple[float, float]] = field(default_factory=list)
    dashed: bool = False
    step: bool = False  # a CDF: horizontal, then vertical


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round steps (1, 2, 2.5 or 5 x 10^k) from at most ``lo`` to at least ``hi``."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _clip(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    *,
    categories: Optional[list[str]] = None,
    y_max: Optional[float] = None,
    x_from_zero: bool = True,
) -> Markup:
    """One chart. With ``categories``, x values are their indices, spaced evenly (a concurrency sweep
    1, 2, 4, 64 reads better so than on a linear axis); otherwise x is numeric, from 0 or (a CDF,
    ``x_from_zero=False``) from just below the smallest value. Legend names longer than half the
    chart are clipped (the tables below the charts carry them whole)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    ys = [y for s in series for _, y in s.points]
    xs = [x for s in series for x, _ in s.points]
    y_ticks = nice_ticks(0.0, y_max if y_max is not None else max(ys, default=1.0))
    if categories is not None:
        x_lo, x_hi = -0.5, len(categories) - 0.5
        x_ticks = [(float(i), c) for i, c in enumerate(categories)]
    else:
        ticks = nice_ticks(0.0 if x_from_zero else min(xs, default=0.0), max(xs, default=1.0))
        x_lo, x_hi = ticks[0], ticks[-1]
        x_ticks = [(t, _fmt(t)) for t in ticks]
    y_hi = y_ticks[-1]

    def px(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - y / y_hi * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="20" class="title">{escape(title)}</text>',
    ]
    for t in y_ticks:
        y = py(t)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{escape(_fmt(t))}</text>')
    for x, label in x_ticks:
        out.append(
            f'<text x="{px(x):.1f}" y="{TOP + plot_h + 16}" class="tick" text-anchor="middle">{escape(label)}</text>'
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h + 34}" class="label" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text transform="translate(14 {TOP + plot_h / 2:.1f}) rotate(-90)" class="label" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    for s in series:
        pts = sorted(s.points)
        if s.step:
            # A CDF: it is 0 up to the first sample and jumps at each one.
            path = [(pts[0][0], 0.0)] if pts else []
            prev = 0.0
            for x, y in pts:
                path += [(x, prev), (x, y)]
                prev = y
            pts = path
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
        if not s.step:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{s.color}"/>' for x, y in pts]
    for i, s in enumerate(series):
        x, y = LEFT + (i % 2) * (plot_w / 2), HEIGHT - 22 + (i // 2) * 14  # two legend entries per line
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<line x1="{x}" x2="{x + 24}" y1="{y - 4}" y2="{y - 4}" stroke="{s.color}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{x + 30}" y="{y}" class="legend">{escape(_clip(s.name))}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
