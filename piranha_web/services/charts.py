"""Traffic charts as inline SVG, drawn on the server from pulse's samples (no script needed).

One chart per series (connections/s, bytes/s, active connections): the
scales differ too much to share an axis.  Pure string building, escaped,
so the console's CSP (no inline script or style) is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 240, 60, 2
SERIES = (("cps", "connections/s"), ("bps", "bytes/s"), ("active", "active connections"))


@dataclass
class Chart:
    """One drawn series and the numbers a reader wants beside it."""

    series: str
    label: str
    svg: Markup
    last: float
    peak: float


def human(value: float) -> str:
    """1234567 -> 1.2M; small values keep one decimal."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}"
    return f"{value:.1f}" if value % 1 else f"{value:.0f}"


def svg(values: list[float], label: str, css: str) -> Markup:
    """A polyline over the values (oldest left), scaled to the peak; an empty frame when no data."""
    peak = max(values, default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = " ".join(f"{PAD + i * step:.1f},{HEIGHT - PAD - (v / peak) * (HEIGHT - 2 * PAD):.1f}"
                      for i, v in enumerate(values))
    line = f'<polyline class="{css}" points="{points}"/>' if len(values) > 1 else ""
    return Markup(f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
                  f'aria-label="{escape(label)}"><line class="axis" x1="0" y1="{HEIGHT - PAD}" x2="{WIDTH}" '
                  f'y2="{HEIGHT - PAD}"/>{line}</svg>')


def charts(data: dict[str, Any], title: str) -> list[Chart]:
    """The three charts of one ``{"t": [...], "cps": [...], ...}`` series set."""
    out = []
    for key, label in SERIES:
        values = [float(v) for v in data.get(key) or []]
        out.append(Chart(key, label, svg(values, f"{title}: {label}", f"line-{key}"),
                         values[-1] if values else 0.0, max(values, default=0.0)))
    return out


def traffic(series: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Per virtual server: its charts and each real server's, for the template."""
    return [{"virtual": v.get("virtual"), "step": v.get("step"),
             "points": len((v.get("total") or {}).get("t") or []),
             "total": charts(v.get("total") or {}, str(v.get("virtual"))),
             "reals": [(rs, charts(data, f"{v.get('virtual')}/{rs}"))
                       for rs, data in sorted((v.get("reals") or {}).items())]}
            for v in series or [] if isinstance(v, dict)]
