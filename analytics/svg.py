"""Server-made SVG charts: no script, no stylesheet, no CDN; each with a table of the same
numbers for screen readers.

Every text goes through `xml.sax.saxutils` (`escape` for content, `quoteattr` for
attributes). Charts scale with their `viewBox`; colours are presentation attributes, which a
Content-Security-Policy without `unsafe-inline` styles allows. The accessible name is the
`aria-label` (and the `<title>` child); each point and bar carries a `<title>` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NO_DATA = "No data for this period"
NO_VALUE = "no data"
# Okabe-Ito: told apart with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
TEXT = "#333333"
GRID = "#dddddd"
FONT = {"font-family": "system-ui, sans-serif", "font-size": "12", "fill": TEXT}

WIDTH = 720
LINE_HEIGHT = 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 24, 48, 56
MAX_X_LABELS = 8
BAR_ROW = 26
BAR_LABEL_WIDTH = 180
BAR_LABEL_CHARS = 24

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class DataTable:
    """The chart's numbers as a table: a caption, column headers, rows of text."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    """An SVG document (to inline in a page) and its table."""

    svg: str
    table: DataTable


@dataclass(frozen=True)
class Series:
    """One line: a value (or None: no data) for each label of the chart."""

    name: str
    values: Sequence[float | None]


def format_number(value: float) -> str:
    """Whole numbers with thousands separators; others with one decimal."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis_labels: Sequence[str] | None = None,
    y_label: str = "",
    x_label: str = "",
    fmt: Formatter = format_number,
    whole: bool = False,
) -> Chart:
    """Lines over the labels (one per series), with axes, ticks, a legend for several series,
    and a tooltip on each point; a gap where a value is None. ``whole``: the values are counts,
    so the y ticks are whole numbers."""
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(
                f"series {one.name!r} has {len(one.values)} values for {len(labels)} labels"
            )
    short = list(axis_labels) if axis_labels is not None else list(labels)
    table = DataTable(
        caption=title,
        columns=(x_label or "Period", *(one.name for one in series)),
        rows=tuple(
            (label, *(_cell(one.values[index], fmt) for one in series))
            for index, label in enumerate(labels)
        ),
    )
    known = [value for one in series for value in one.values if value is not None]
    parts = [_title_block(title, WIDTH)]
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, LINE_HEIGHT - MARGIN_BOTTOM
    if not known:
        parts.append(_no_data(left, right, top, bottom))
        return Chart(_document(title, WIDTH, LINE_HEIGHT, parts), table)

    ticks = nice_ticks(min(0.0, min(known)), max(known), whole=whole)
    low, high = ticks[0], ticks[-1]

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    count = len(labels)

    def x_of(index: int) -> float:
        if count == 1:
            return (left + right) / 2
        return left + index * (right - left) / (count - 1)

    # Grid and y axis.
    for tick in ticks:
        y = _r(y_of(tick))
        parts.append(_el("line", {"x1": left, "x2": right, "y1": y, "y2": y, "stroke": GRID}))
        parts.append(
            _el(
                "text", {"x": left - 8, "y": y + 4, "text-anchor": "end", **FONT}, escape(fmt(tick))
            )
        )
    parts.append(_el("line", {"x1": left, "x2": left, "y1": top, "y2": bottom, "stroke": TEXT}))
    parts.append(_el("line", {"x1": left, "x2": right, "y1": bottom, "y2": bottom, "stroke": TEXT}))
    # X ticks and labels, at most MAX_X_LABELS of them so that they never overlap.
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for index in range(0, count, every):
        x = _r(x_of(index))
        parts.append(
            _el("line", {"x1": x, "x2": x, "y1": bottom, "y2": bottom + 5, "stroke": TEXT})
        )
        parts.append(
            _el(
                "text",
                {"x": x, "y": bottom + 18, "text-anchor": "middle", "class": "x-label", **FONT},
                escape(short[index]),
            )
        )
    if y_label:
        parts.append(
            _el(
                "text",
                {
                    "x": 16,
                    "y": (top + bottom) / 2,
                    "text-anchor": "middle",
                    "transform": f"rotate(-90 16 {_r((top + bottom) / 2)})",
                    **FONT,
                },
                escape(y_label),
            )
        )
    if x_label:
        parts.append(
            _el(
                "text",
                {"x": (left + right) / 2, "y": LINE_HEIGHT - 12, "text-anchor": "middle", **FONT},
                escape(x_label),
            )
        )
    # The lines, their points, and a legend when there are several.
    for number, one in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        group = [_segments(one.values, x_of, y_of, colour)]
        for index, value in enumerate(one.values):
            if value is None:
                continue
            tip = f"{one.name}, {labels[index]}: {fmt(value)}"
            group.append(
                _el(
                    "circle",
                    {
                        "cx": _r(x_of(index)),
                        "cy": _r(y_of(value)),
                        "r": 3.5,
                        "fill": colour,
                        "class": "point",
                    },
                    _el("title", {}, escape(tip)),
                )
            )
        parts.append(_el("g", {"class": "series", "data-series": one.name}, "".join(group)))
    if len(series) > 1:
        parts.append(_legend([one.name for one in series], right))
    return Chart(_document(title, WIDTH, LINE_HEIGHT, parts), table)


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    label_heading: str = "Name",
    value_heading: str = "Value",
    fmt: Formatter = format_number,
    whole: bool = False,
) -> Chart:
    """Horizontal bars, one per (label, value), in the order given, each with its value at its
    end and a tooltip; long labels are shortened on the chart (whole in the tooltip and table).
    ``whole``: the values are counts, so the ticks are whole numbers."""
    table = DataTable(
        caption=title,
        columns=(label_heading, value_heading),
        rows=tuple((label, fmt(value)) for label, value in bars),
    )
    if not bars:
        height = 140
        parts = [_title_block(title, WIDTH), _no_data(MARGIN_LEFT, WIDTH - MARGIN_RIGHT, 40, 120)]
        return Chart(_document(title, WIDTH, height, parts), table)

    top = MARGIN_TOP
    height = top + BAR_ROW * len(bars) + 40
    left = BAR_LABEL_WIDTH + 10
    right = WIDTH - MARGIN_RIGHT - 60  # room for the value after the longest bar
    ticks = nice_ticks(0.0, max(0.0, *(value for _, value in bars)), whole=whole)
    high = ticks[-1]
    bottom = top + BAR_ROW * len(bars)

    def x_of(value: float) -> float:
        return left + max(0.0, value) / high * (right - left)

    parts = [_title_block(title, WIDTH)]
    for tick in ticks:
        x = _r(x_of(tick))
        parts.append(_el("line", {"x1": x, "x2": x, "y1": top, "y2": bottom, "stroke": GRID}))
        parts.append(
            _el(
                "text",
                {"x": x, "y": bottom + 18, "text-anchor": "middle", **FONT},
                escape(fmt(tick)),
            )
        )
    parts.append(_el("line", {"x1": left, "x2": left, "y1": top, "y2": bottom, "stroke": TEXT}))
    for index, (label, value) in enumerate(bars):
        y = top + index * BAR_ROW
        shown = label if len(label) <= BAR_LABEL_CHARS else label[: BAR_LABEL_CHARS - 1] + "…"
        width = _r(x_of(value) - left)
        parts.append(
            _el(
                "g",
                {"class": "bar"},
                "".join(
                    [
                        _el("title", {}, escape(f"{label}: {fmt(value)}")),
                        _el(
                            "text",
                            {"x": left - 8, "y": y + 17, "text-anchor": "end", **FONT},
                            escape(shown),
                        ),
                        _el(
                            "rect",
                            {
                                "x": left,
                                "y": y + 4,
                                "width": width,
                                "height": BAR_ROW - 8,
                                "fill": PALETTE[0],
                            },
                        ),
                        _el(
                            "text",
                            {"x": _r(left + width + 6), "y": y + 17, **FONT},
                            escape(fmt(value)),
                        ),
                    ]
                ),
            )
        )
    return Chart(_document(title, WIDTH, height, parts), table)


def nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values from at most ``low`` to at least ``high`` (steps of 1, 2, 2.5 or 5
    times a power of ten); a flat range gets a unit above it. ``whole``: steps of a whole
    number (a count of posts has no tick at 0.2 or 2.5)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude * count >= high - low:
            step = multiple * magnitude
            break
    if whole:
        step = max(1.0, float(math.ceil(step)))
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    return [first + index * step for index in range(round((last - first) / step) + 1)]


def _segments(
    values: Sequence[float | None],
    x_of: Callable[[int], float],
    y_of: Callable[[float], float],
    colour: str,
) -> str:
    """A polyline for each run of two or more consecutive known values."""
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(f"{_r(x_of(index))},{_r(y_of(value))}")
    return "".join(
        _el(
            "polyline",
            {"points": " ".join(run), "fill": "none", "stroke": colour, "stroke-width": 2},
        )
        for run in runs
        if len(run) > 1
    )


def _legend(names: Sequence[str], right: float) -> str:
    items = []
    x = MARGIN_LEFT
    for number, name in enumerate(names):
        colour = PALETTE[number % len(PALETTE)]
        items.append(_el("rect", {"x": x, "y": 30, "width": 10, "height": 10, "fill": colour}))
        items.append(_el("text", {"x": x + 14, "y": 39, **FONT}, escape(name)))
        x += 24 + 7 * min(len(name), 24)
        if x > right:
            break
    return _el("g", {"class": "legend"}, "".join(items))


def _title_block(title: str, width: int) -> str:
    return _el(
        "text",
        {"x": width / 2, "y": 20, "text-anchor": "middle", **FONT, "font-size": "15"},
        escape(title),
    )


def _no_data(left: float, right: float, top: float, bottom: float) -> str:
    frame = _el(
        "rect",
        {
            "x": left,
            "y": top,
            "width": right - left,
            "height": bottom - top,
            "fill": "none",
            "stroke": GRID,
        },
    )
    text = _el(
        "text",
        {
            "x": (left + right) / 2,
            "y": (top + bottom) / 2,
            "text-anchor": "middle",
            "class": "no-data",
            **FONT,
        },
        escape(NO_DATA),
    )
    return frame + text


def _document(title: str, width: int, height: int, parts: Sequence[str]) -> str:
    attributes = {
        "xmlns": "http://www.w3.org/2000/svg",
        "viewBox": f"0 0 {width} {height}",
        "role": "img",
        "aria-label": title,
        "class": "chart",
    }
    return _el("svg", attributes, _el("title", {}, escape(title)) + "".join(parts))


def _el(name: str, attributes: Mapping[str, object], content: str | None = None) -> str:
    rendered = "".join(f" {key}={quoteattr(_attr(value))}" for key, value in attributes.items())
    if content is None:
        return f"<{name}{rendered}/>"
    return f"<{name}{rendered}>{content}</{name}>"


def _attr(value: object) -> str:
    if isinstance(value, float):
        return format(_r(value), "g")
    return str(value)


def _r(value: float) -> float:
    return round(value, 1)


def _cell(value: float | None, fmt: Formatter) -> str:
    return NO_VALUE if value is None else fmt(value)
