"""The analytics pages in Chromium: both charts drawn from the seeded data, the GET forms, the
CSV download, no console errors; a screenshot of each page (`make screenshots`: into
docs/screenshots/)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from store import ConnectionRecord
from tests.analytics_seed import LIKES, TOP_TAGS, seed_posts, seed_snapshot
from tests.browser.conftest import (
    ADMIN_EMAIL,
    VIEWER_EMAIL,
    Console,
    ConsoleErrors,
    Screenshots,
)


@pytest.fixture
def seeded(console: Console) -> ConnectionRecord:
    connection = console.store.create_connection(
        name="acme",
        location_id="loc_acme",
        ghl_token="pit-sandbox-demo",
        crm_url="http://crm.example/hooks/acme",
    )
    seed_snapshot(console.store, connection)
    seed_posts(console.store, connection)
    return connection


def _screenshot(page: Page, screenshots: Screenshots, name: str) -> None:
    page.set_viewport_size({"width": 1100, "height": 900})
    screenshots.take(page, name)


def test_the_trend_chart_is_drawn_and_its_form_redraws_it(
    page: Page,
    console: Console,
    seeded: ConnectionRecord,
    errors: ConsoleErrors,
    screenshots: Screenshots,
) -> None:
    console.sign_in(page, VIEWER_EMAIL)
    page.click("nav >> text=Analytics")
    page.click("text=Engagement trends")
    expect(page.locator("h1")).to_have_text("Engagement trends: acme")

    page.select_option("#trend-period", "7")
    page.select_option("#trend-metric", "likes")
    page.click("#trend-query button[type=submit]")

    chart = page.locator("#trend-chart svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.point")).to_have_count(len(LIKES))
    expect(chart.locator("polyline")).to_have_count(1)
    expect(page.locator("#trend-chart table tbody tr")).to_have_count(7)
    expect(page.locator(".summary")).to_contain_text(f"Total for the period: {sum(LIKES)}")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    _screenshot(page, screenshots, "analytics-trends")
    assert errors.messages == []


def test_the_tag_charts_are_drawn_and_a_segment_downloads(
    page: Page,
    console: Console,
    seeded: ConnectionRecord,
    errors: ConsoleErrors,
    screenshots: Screenshots,
) -> None:
    console.sign_in(page, VIEWER_EMAIL)
    page.goto(f"{console.url}/connections/{seeded.id}/tags?period=7&bucket=day")

    bars = page.locator("#top-tags-chart svg.chart g.bar")
    expect(bars).to_have_count(len(TOP_TAGS))
    expect(bars.first.locator("rect")).to_be_visible()
    lines = page.locator("#tag-usage-chart svg.chart g.series")
    expect(lines).to_have_count(len(TOP_TAGS))
    expect(page.locator("#tag-usage-chart circle.point")).to_have_count(len(TOP_TAGS) * 7)
    _screenshot(page, screenshots, "analytics-tags")

    page.click("ul.segments >> text=listing")
    expect(page.locator("h1")).to_have_text("Posts tagged listing: acme")
    expect(page.locator("#segment-posts tbody tr")).to_have_count(2)
    _screenshot(page, screenshots, "analytics-segment")
    with page.expect_download() as waiting:
        page.click("a.download")
    download = waiting.value
    assert download.suggested_filename == "segment-tag_listing.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["crm_post_id"] for row in rows] == ["p4", "p1"]
    assert errors.messages == []


def test_the_analytics_pages_without_data_report_no_error(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    connection = console.store.create_connection(
        name="empty", location_id="loc_empty", ghl_token="pit-sandbox-demo"
    )
    console.sign_in(page, ADMIN_EMAIL)
    for path in (
        "/analytics",
        f"/connections/{connection.id}/analytics",
        f"/connections/{connection.id}/tags",
        f"/connections/{connection.id}/tags/tag_none",
    ):
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None
        assert answer.status == 200
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        expect(page.locator("header.bar")).to_have_css("display", "flex")
    page.goto(f"{console.url}/connections/{connection.id}/tags")
    # The analytics rules of the stylesheet applied, and each empty chart says so.
    expect(page.locator("form.analytics-query")).to_have_css("display", "flex")
    expect(page.locator("svg.chart text.no-data")).to_have_count(2)
    assert errors.messages == []
