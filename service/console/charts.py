"""Server-rendered SVG charts (no script, no external asset): bars above and below a zero line,
with a value axis (its unit, its scale, the peak marked) and a time axis. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 36


@dataclass(frozen=True)
class Bar:
    """One bucket: its label on the time axis (or ""), the value up and the value down, and
    its kind (`actual`, `estimated`, `missing`: drawn differently)."""

    label: str
    up: float
    down: float = 0.0
    kind: str = "actual"


def _nice(peak: float) -> float:
    """A round scale at or above `peak`."""
    if peak <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(peak))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if peak <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _rect(x: float, y: float, width: float, height: float, kind: str, tip: str = "") -> str:
    tip_tag = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width - 1, 1):.1f}" height="{height:.1f}" '
        f'class="{kind}">{tip_tag}</rect>'
    )


def _text(x: float, y: float, kind: str, text: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{kind}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _line(y: float, kind: str) -> str:
    return f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="{kind}"/>'


def bars(series: Sequence[Bar], unit: str, title: str) -> str:
    """An SVG bar chart of `series`: up bars above the zero line, down bars below it."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice(max((bar.up for bar in series), default=0.0))
    downs = [bar.down for bar in series if bar.down > 0]
    bottom = _nice(max(downs)) if downs else 0.0
    span = top + bottom
    zero = TOP + plot_h * top / span
    width = plot_w / max(len(series), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for value in (top / 2, top):
        y = zero - plot_h * value / span
        out += [_line(y, "grid"), _text(LEFT - 6, y + 4, "tick", f"{value:g}", "end")]
    for value in (bottom / 2, bottom) if bottom else ():
        y = zero + plot_h * value / span
        out += [_line(y, "grid"), _text(LEFT - 6, y + 4, "tick", f"{-value:g}", "end")]
    out.append(_text(LEFT - 6, zero + 4, "tick", "0", "end"))
    out.append(_text(4, TOP - 4, "unit", unit))
    for index, bar in enumerate(series):
        x = LEFT + index * width
        if bar.kind == "missing":
            out.append(_rect(x, TOP, width, plot_h, "missing", f"{bar.label} missing"))
        if bar.up > 0:
            h = plot_h * bar.up / span
            tip = f"{bar.label} {bar.up:.3f} {unit} ({bar.kind})"
            out.append(_rect(x, zero - h, width, h, f"up {bar.kind}", tip))
        if bar.down > 0:
            h = plot_h * bar.down / span
            tip = f"{bar.label} -{bar.down:.3f} {unit} ({bar.kind})"
            out.append(_rect(x, zero, width, h, f"down {bar.kind}", tip))
    out.append(_line(zero, "axis"))
    step = max(1, len(series) // 8)
    for index in range(0, len(series), step):
        if series[index].label:
            out.append(_text(LEFT + index * width, HEIGHT - 12, "tick", series[index].label))
    peak = max(range(len(series)), key=lambda i: series[i].up, default=None)
    if peak is not None and series[peak].up > 0:
        x = LEFT + peak * width + width / 2
        y = zero - plot_h * series[peak].up / span
        out.append(_text(x, max(y - 4, 10), "peak", f"peak {series[peak].up:.3f} {unit}", "middle"))
    out.append("</svg>")
    return "".join(out)
