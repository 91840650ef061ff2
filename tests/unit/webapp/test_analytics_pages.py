"""The analytics pages: engagement trends, tag usage and a tag's segment with its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from store import ConnectionRecord, Store
from tests.analytics_seed import FORMULA_TITLE, LIKES, seed_posts, seed_snapshot
from webapp.security import CONTENT_SECURITY_POLICY


@pytest.fixture
def seeded(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    seed_snapshot(store, connection)
    seed_posts(store, connection)
    return connection


def _page(client: FlaskClient, path: str, status: int = 200) -> str:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def test_the_analytics_index_links_each_connection(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, "/analytics")

    assert f'href="/connections/{seeded.id}/analytics"' in page
    assert f'href="/connections/{seeded.id}/tags"' in page
    assert 'href="/analytics">Analytics</a>' in page  # the nav link


def test_a_viewer_sees_the_trend_drawn_with_its_table(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/analytics?period=7&metric=likes")

    assert page.count('class="point"') == len(LIKES)
    assert f"Total for the period: {sum(LIKES)}" in page
    assert "<caption>Likes, All platforms, " in page
    for value in LIKES:
        assert f"<td>{value}</td>" in page
    assert page.count("<td>no data</td>") == 7 - len(LIKES)
    assert '<option value="likes" selected>' in page
    assert '<option value="facebook">Facebook</option>' in page
    assert "estimated" not in page.split("<figure")[0]


def test_the_trend_per_week_and_per_platform(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(
        viewer_client,
        f"/connections/{seeded.id}/analytics?period=30&bucket=week&metric=likes&platform=facebook",
    )

    assert "Total for the period: 20" in page
    assert "Some figures are estimated" in page
    assert "per week" in page
    assert '<option value="week" selected>' in page


def test_a_period_the_form_does_not_offer_is_kept_as_a_choice(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/analytics?period=14&metric=likes")

    assert '<option value="14" selected>Last 14 days</option>' in page
    assert '<option value="7">Last 7 days</option>' in page
    assert page.count('<tr><th scope="row">') == 14


def test_followers_show_the_last_count(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/analytics?period=7&metric=followers")

    assert "Latest count: 250" in page
    assert page.count('class="point"') == 1


def test_a_trend_without_data_says_so(
    viewer_client: FlaskClient, connection: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{connection.id}/analytics")

    assert "No data for this period." in page
    assert 'class="no-data"' in page


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("period=0", "period: must be from 1 to 366, not 0"),
        ("period=week", "period: must be a whole number"),
        ("metric=views", "metric: must be one of"),
        ("bucket=month", "bucket: must be one of day, week, not &#39;month&#39;"),
        ("platform=myspace", "platform: must be one of all, facebook"),
    ],
)
def test_a_bad_parameter_is_named_above_the_form(
    viewer_client: FlaskClient, seeded: ConnectionRecord, query: str, named: str
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/analytics?{query}", 400)

    assert named in page
    assert 'role="alert"' in page
    assert "<svg" not in page
    assert 'id="trend-query"' in page


def test_an_unknown_connection_is_404(viewer_client: FlaskClient) -> None:
    assert viewer_client.get("/connections/nope/analytics").status_code == 404
    assert viewer_client.get("/connections/nope/tags").status_code == 404
    assert viewer_client.get("/connections/nope/tags/t/segment.csv").status_code == 404


def test_the_tag_usage_page_draws_top_tags_and_posts_per_tag(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/tags?period=7&bucket=day")

    top, usage = page.split('id="tag-usage-chart"')
    assert top.count('<g class="bar">') == 3
    assert '<th scope="row">open-house</th><td>3</td>' in top
    assert '<th scope="row">listing</th><td>2</td>' in top
    assert f'href="/connections/{seeded.id}/tags/tag_open-house"' in top
    assert usage.count('class="series"') == 3
    assert '<g class="legend">' in usage
    # Three posts carry open-house, one each on three of the seven days.
    assert usage.count('class="point"') == 3 * 7


def test_the_tag_usage_page_names_a_bad_parameter(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/tags?bucket=year", 400)

    assert "bucket: must be one of day, week" in page
    assert "<svg" not in page


def test_a_segment_lists_the_posts_and_links_its_csv(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/tags/tag_listing")

    assert "Posts tagged listing" in page
    assert page.count("<tr><td>") == 2
    assert "Open house on Elm" in page
    assert "open-house, listing" in page
    assert f'href="/connections/{seeded.id}/tags/tag_listing/segment.csv"' in page


def test_an_unknown_tag_says_no_post_carries_it(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    page = _page(viewer_client, f"/connections/{seeded.id}/tags/tag_nothing")

    assert "No post of this connection carries the tag" in page
    assert "Download CSV" not in page


def test_the_segment_csv_is_an_attachment_that_parses_back(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    answer = viewer_client.get(f"/connections/{seeded.id}/tags/tag_listing/segment.csv")

    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="segment-tag_listing.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [row["crm_post_id"] for row in rows] == ["p4", "p1"]  # newest first
    assert rows[0]["title"] == "'" + FORMULA_TITLE  # a formula is not run by a spreadsheet
    assert rows[1]["tags"] == "open-house; listing"
    assert rows[1]["ghl_post_id"] == "ghl_p1"


def test_the_pages_keep_the_csp_and_carry_no_inline_script_or_style(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    for path in (
        "/analytics",
        f"/connections/{seeded.id}/analytics",
        f"/connections/{seeded.id}/tags",
        f"/connections/{seeded.id}/tags/tag_listing",
    ):
        answer = viewer_client.get(path)
        page = answer.get_data(as_text=True)
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "<script" not in page
        assert "style=" not in page
        assert "<style" not in page


def test_a_visitor_is_sent_to_sign_in(client: FlaskClient, seeded: ConnectionRecord) -> None:
    answer = client.get(f"/connections/{seeded.id}/analytics")

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/signin?next=")
