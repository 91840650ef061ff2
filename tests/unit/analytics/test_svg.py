from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from analytics.charts import tag_usage_chart, top_tags_chart, trend_chart
from analytics.periods import Bucket, Period
from analytics.svg import NO_DATA, NO_VALUE, Series, bar_chart, line_chart, nice_ticks
from analytics.tags import TagSeries, TagUsage
from analytics.trends import Trend, TrendPoint
from store.tag_links import TagCount

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = "<script>alert(\"x\")</script> & 'co'"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text")]


def _points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter("{http://www.w3.org/2000/svg}circle") if c.get("class") == "point"]


def test_a_line_chart_has_axes_a_title_and_a_tooltip_per_point() -> None:
    labels = [f"2026-11-{day:02d}" for day in range(1, 11)]
    values: list[float | None] = [5, 8, 13, None, 21, 34, 55, 89, 144, 233]
    chart = line_chart("Likes", labels, [Series("Likes", values)], y_label="Likes", x_label="Day")

    root = _parse(chart.svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Likes"
    assert root.get("viewBox") == "0 0 720 320"
    assert root.find("svg:title", NS) is not None
    points = _points(root)
    assert len(points) == 9  # the day without data has no point
    tips = [point.find("svg:title", NS).text for point in points]  # type: ignore[union-attr]
    assert tips[0] == "Likes, 2026-11-01: 5"
    assert tips[-1] == "Likes, 2026-11-10: 233"
    # The gap splits the line in two.
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 2
    texts = _texts(root)
    assert "250" in texts  # the top y tick, a round number above the highest value
    assert "2026-11-01" in texts
    assert chart.table.columns == ("Day", "Likes")
    assert chart.table.rows[0] == ("2026-11-01", "5")
    assert chart.table.rows[3] == ("2026-11-04", NO_VALUE)
    assert len(chart.table.rows) == 10


def test_text_is_escaped_everywhere() -> None:
    chart = line_chart(HOSTILE, [HOSTILE, "b"], [Series(HOSTILE, [1, 2]), Series("b", [2, 1])])
    root = _parse(chart.svg)
    assert "<script>" not in chart.svg
    assert root.get("aria-label") == HOSTILE
    assert HOSTILE in _texts(root)  # the title and the legend, read back as text
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    bars = bar_chart(HOSTILE, [(HOSTILE, 3)])
    assert "<script>" not in bars.svg
    assert _parse(bars.svg).get("aria-label") == HOSTILE


def test_one_point_is_drawn_as_a_dot_without_a_line() -> None:
    chart = line_chart("Followers", ["2026-11-07"], [Series("Followers", [1200])])
    root = _parse(chart.svg)
    assert len(_points(root)) == 1
    assert not list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert chart.table.rows == (("2026-11-07", "1,200"),)


@pytest.mark.parametrize("labels", [[], ["2026-11-01", "2026-11-02"]])
def test_no_data_draws_a_clear_empty_chart(labels: list[str]) -> None:
    chart = line_chart("Likes", labels, [Series("Likes", [None] * len(labels))])
    root = _parse(chart.svg)
    assert NO_DATA in _texts(root)
    assert _points(root) == []
    assert [row[1] for row in chart.table.rows] == [NO_VALUE] * len(labels)


def test_several_series_get_a_legend_and_their_own_points() -> None:
    chart = line_chart(
        "Tags", ["a", "b", "c"], [Series("open", [1, 2, 3]), Series("sold", [0, 1, 0])]
    )
    root = _parse(chart.svg)
    assert len(_points(root)) == 6
    legend = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "legend"]
    assert len(legend) == 1
    assert chart.table.columns == ("Period", "open", "sold")
    assert chart.table.rows[2] == ("c", "3", "0")


def test_a_series_must_match_the_labels() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        line_chart("x", ["a", "b", "c"], [Series("s", [1, 2])])


def test_a_bar_chart_has_one_bar_per_tag_and_shortens_long_names() -> None:
    long_name = "a very long tag name that goes on and on"
    chart = bar_chart("Top tags", [("open-house", 12), ("listing", 7.5), (long_name, 1)])

    root = _parse(chart.svg)
    bars = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "bar"]
    assert len(bars) == 3
    assert len([r for bar in bars for r in bar.iter("{http://www.w3.org/2000/svg}rect")]) == 3
    widths = [float(bar.find("svg:rect", NS).get("width")) for bar in bars]  # type: ignore[arg-type, union-attr]
    assert widths[0] > widths[1] > widths[2] > 0
    tooltips = [bar.find("svg:title", NS).text for bar in bars]  # type: ignore[union-attr]
    assert tooltips == ["open-house: 12", "listing: 7.5", f"{long_name}: 1"]
    assert long_name not in _texts(root)
    assert "a very long tag name th…" in _texts(root)
    assert chart.table.rows == (("open-house", "12"), ("listing", "7.5"), (long_name, "1"))
    height = float(root.get("viewBox", "").split()[3])
    assert height > float(_parse(bar_chart("t", [("a", 1)]).svg).get("viewBox", "").split()[3])


def test_an_empty_bar_chart_says_so() -> None:
    chart = bar_chart("Top tags", [])
    root = _parse(chart.svg)
    assert NO_DATA in _texts(root)
    assert chart.table.rows == ()


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 233) == [0, 50, 100, 150, 200, 250]
    assert nice_ticks(0, 7) == [0, 2, 4, 6, 8]
    assert (
        nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0] or nice_ticks(0, 0)[-1] >= 1
    )
    assert nice_ticks(-3, 10)[0] <= -3


def test_whole_ticks_for_counts() -> None:
    assert nice_ticks(0, 1, whole=True) == [0, 1]
    assert nice_ticks(0, 3, whole=True) == [0, 1, 2, 3]
    assert nice_ticks(0, 12, whole=True) == [0, 3, 6, 9, 12]
    assert nice_ticks(0, 233, whole=True) == nice_ticks(0, 233)
    chart = bar_chart("Top tags", [("a", 1.0)], whole=True)
    assert ">0.2<" not in chart.svg


def test_the_analytics_charts_draw_a_point_per_bucket_with_data() -> None:
    period = Period(date(2026, 11, 2), date(2026, 11, 8))
    points = tuple(
        TrendPoint(Bucket(day, day), None if offset == 2 else float(offset), False)
        for offset, day in enumerate(period.first + timedelta(days=n) for n in range(7))
    )
    trend = Trend("con_1", "facebook", "likes", period, "day", "sum", points, 19.0, 6)
    chart = trend_chart(trend)
    root = _parse(chart.svg)
    assert len(_points(root)) == 6
    assert root.get("aria-label") == "Likes, Facebook, 2026-11-02 to 2026-11-08, per day"
    assert len(chart.table.rows) == 7

    tags = [TagCount("t1", "open-house", 4), TagCount("t2", "sold", 2)]
    assert len(top_tags_chart(tags).table.rows) == 2
    usage = TagUsage(
        "con_1",
        period,
        "week",
        (Bucket(period.first, period.last),),
        tuple(TagSeries(tag, (tag.posts,)) for tag in tags),
    )
    usage_chart = tag_usage_chart(usage)
    assert len(_points(_parse(usage_chart.svg))) == 2
    assert usage_chart.table.rows == (("2026-11-02 to 2026-11-08", "4", "2"),)
