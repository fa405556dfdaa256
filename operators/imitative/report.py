"""``hch iterate --report``: a self-contained HTML page with the iterated-amplification curve.

One file, no scripts and nothing fetched: an inline SVG chart (accuracy of
Amp(M_t) and of the distilled M_t per round, a plain HCH tree's accuracy by
depth on the same axis, the full-depth tree as a line) and the round table.
Every text from a run is HTML-escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 640, 320, 48

SERIES = (
    ("distilled_accuracy", "distilled M_t (one call per question)", "#1f77b4"),
    ("amplified_accuracy", "Amp(M_t-1), depth-1 tree", "#ff7f0e"),
)


def _points(values: list[tuple[float, float]], x_max: float) -> str:
    def x(v: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (v / x_max if x_max else 0)

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * v

    return " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in values)


def chart(report: dict[str, Any]) -> str:
    """The SVG chart: accuracy (0..1) against round (and HCH depth)."""
    rounds = report["rounds"]
    curve: list[float] = report.get("hch_accuracy_by_depth") or []
    x_max = float(max(len(rounds), len(curve) - 1, 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        'aria-label="accuracy against round">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * tick
        parts.append(f'<text x="{PAD - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick:.0%}</text>')
    for t in range(int(x_max) + 1):
        x = PAD + (WIDTH - 2 * PAD) * t / x_max
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" font-size="11">{t}</text>')
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">round t (HCH depth k)</text>'
    )
    full = report.get("full_depth") or {}
    if full.get("accuracy") is not None:
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * full["accuracy"]
        parts.append(
            f'<line class="full-depth" x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" '
            'stroke="#2ca02c" stroke-dasharray="6 4"/>'
        )
    if curve:
        points = _points([(float(k), a) for k, a in enumerate(curve)], x_max)
        parts.append(
            f'<polyline class="series hch" points="{points}" fill="none" stroke="#999" stroke-dasharray="2 3"/>'
        )
    for key, _label, colour in SERIES:
        values = [(float(r["round"]), r[key]) for r in rounds if r.get(key) is not None]
        if values:
            parts.append(
                f'<polyline class="series {key}" points="{_points(values, x_max)}" fill="none" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            for point in _points(values, x_max).split():
                cx, cy = point.split(",")
                parts.append(f'<circle class="{key}" cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def render(report: dict[str, Any]) -> str:
    """The whole page."""
    e = html.escape
    title = f"Iterated amplification: {report.get('task') or 'free text'} ({report['name']})"
    legend = [(label, colour) for _key, label, colour in SERIES]
    legend += [("plain HCH tree of depth k over M_0", "#999"), ("full-depth HCH tree", "#2ca02c")]
    legend_html = "".join(f'<li><span style="color:{c}">&#9632;</span> {e(label)}</li>' for label, c in legend)
    head = (
        "round",
        "Amp(M) accuracy",
        "distilled M accuracy",
        "agreement",
        "calls/q Amp(M)",
        "calls/q M",
        "≈ HCH depth",
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(v))}</td>"
            for v in (
                r["round"],
                _pct(r["amplified_accuracy"]),
                _pct(r["distilled_accuracy"]),
                _pct(r["agreement"]),
                f"{r['calls_per_question']:.2f}",
                f"{r['distilled_calls_per_question']:.2f}",
                "" if r.get("hch_depth_equivalent") is None else r["hch_depth_equivalent"],
            )
        )
        + "</tr>"
        for r in report["rounds"]
    )
    full = report.get("full_depth") or {}
    summary = (
        f"<p>Full-depth HCH tree (depth {e(str(full['depth']))}): accuracy {_pct(full['accuracy'])}, "
        f"{full['calls_per_question']:.1f} calls per question. Training questions: "
        f"{e(str(report.get('training_questions')))}.</p>"
        if full
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:760px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}ul{{list-style:none;padding:0}}</style></head>
<body><h1>{e(title)}</h1>
<p>{e(str(report.get("n")))} questions; depth-{e(str(report.get("depth")))} amplification each round.</p>
{summary}
<figure id="curve">{chart(report)}<figcaption><ul>{legend_html}</ul></figcaption></figure>
<table id="rounds"><thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the page to ``path`` (which must not exist)."""
    with path.open("x", encoding="utf-8") as handle:
        handle.write(render(report))
