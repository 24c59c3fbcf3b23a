"""Server-rendered SVG charts: horizontal bars and a stacked share bar, no scripts."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_COLOR = "#0a6cbd"
FONT_SIZE = 13


def _text_width(text: str, font_size: float) -> float:
    # Chinese characters are about one em wide, Latin letters and digits about half.
    return sum(font_size if ord(c) > 0x2E7F else font_size * 0.55 for c in text)


def fit_label(label: str, room: float, font_size: float = FONT_SIZE) -> str:
    """Returns the label, cut short with an ellipsis if it is wider than ``room``."""
    if _text_width(label, font_size) <= room:
        return label
    while label and _text_width(label + "…", font_size) > room:
        label = label[:-1]
    return label.rstrip() + "…"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    rows: Sequence[tuple[str, int]],
    *,
    title: str,
    chart_id: str,
    width: int = 360,
    label_width: int = 128,
    bar_height: int = 20,
    gap: int = 7,
    color: str = BAR_COLOR,
) -> Markup:
    """Returns an SVG of horizontal bars, one per (label, value), longest = largest."""
    value_room = 44
    top = 4
    height = top * 2 + len(rows) * (bar_height + gap) - (gap if rows else 0)
    largest = max((value for _, value in rows), default=0) or 1
    span = width - label_width - value_room
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}"'
        f' viewBox="0 0 {width} {max(height, 1)}" width="100%" role="img"'
        f' font-size="{FONT_SIZE}" aria-labelledby="{escape(chart_id)}-title">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
    ]
    for index, (label, value) in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = span * value / largest
        middle = y + bar_height / 2
        shown = fit_label(label, label_width - 10)
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {value}</title>'
            f'<text x="{label_width - 8}" y="{_number(middle)}" text-anchor="end"'
            f' dominant-baseline="central">{escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{_number(max(length, 1))}"'
            f' height="{bar_height}" rx="3" fill="{escape(color)}"/>'
            f'<text class="value" x="{_number(label_width + length + 6)}"'
            f' y="{_number(middle)}" dominant-baseline="central">{value}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bar(
    segments: Sequence[tuple[str, int, str]],
    *,
    title: str,
    width: int = 300,
    height: int = 16,
) -> Markup:
    """Returns an SVG bar split into (label, count, colour) segments by their share."""
    total = sum(count for _, count, _ in segments)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="share" viewBox="0 0'
        f' {width} {height}" width="100%" preserveAspectRatio="none" role="img"'
        f' aria-label="{escape(title)}">'
        f'<rect width="{width}" height="{height}" rx="4" fill="#e6e9ef"/>'
    ]
    x = 0.0
    for label, count, colour in segments:
        if not count:
            continue
        length = width * count / total
        parts.append(
            f'<rect x="{_number(x)}" width="{_number(length)}" height="{height}"'
            f' fill="{escape(colour)}"><title>{escape(label)}: {count}</title></rect>'
        )
        x += length
    parts.append("</svg>")
    return Markup("".join(parts))


def part_of_whole_chart(
    rows: Sequence[tuple[str, int, int]],
    *,
    title: str,
    chart_id: str,
    legend: tuple[str, str],
    width: int = 360,
    label_width: int = 110,
    bar_height: int = 20,
    gap: int = 7,
    color: str = BAR_COLOR,
    whole_color: str = "#c9dcef",
) -> Markup:
    """Returns an SVG of horizontal bars, one per (label, part, whole): the whole
    as a light bar, the part over it in ``color``, "part / whole" after it, and a
    legend naming (part, whole) above."""
    value_room = 64
    top = 26
    height = top + len(rows) * (bar_height + gap) - (gap if rows else 0) + 4
    largest = max((whole for _, _, whole in rows), default=0) or 1
    span = width - label_width - value_room
    part_name, whole_name = legend
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}"'
        f' viewBox="0 0 {width} {height}" width="100%" role="img"'
        f' font-size="{FONT_SIZE}" aria-labelledby="{escape(chart_id)}-title">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<g class="legend"><rect x="0" y="4" width="12" height="12" rx="2"'
        f' fill="{escape(color)}"/><text x="17" y="10" dominant-baseline="central">'
        f"{escape(fit_label(part_name, width / 2 - 30))}</text>"
        f'<rect x="{width / 2:.0f}" y="4" width="12" height="12" rx="2"'
        f' fill="{escape(whole_color)}"/><text x="{width / 2 + 17:.0f}" y="10"'
        f' dominant-baseline="central">{escape(fit_label(whole_name, width / 2 - 30))}'
        "</text></g>"
    ]
    for index, (label, part, whole) in enumerate(rows):
        y = top + index * (bar_height + gap)
        whole_length = span * whole / largest
        part_length = span * part / largest
        middle = y + bar_height / 2
        shown = fit_label(label, label_width - 10)
        parts.append(
            f'<g class="bar"><title>{escape(label)}: {part} / {whole}</title>'
            f'<text x="{label_width - 8}" y="{_number(middle)}" text-anchor="end"'
            f' dominant-baseline="central">{escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{_number(max(whole_length, 1))}"'
            f' height="{bar_height}" rx="3" fill="{escape(whole_color)}"/>'
            f'<rect x="{label_width}" y="{y}" width="{_number(part_length)}"'
            f' height="{bar_height}" rx="3" fill="{escape(color)}"/>'
            f'<text class="value" x="{_number(label_width + whole_length + 6)}"'
            f' y="{_number(middle)}" dominant-baseline="central">'
            f"{part} / {whole}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
