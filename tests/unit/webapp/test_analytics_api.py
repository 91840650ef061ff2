"""The analytics JSON API: `/api/connections/<id>/…`, behind the console's sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from store import ConnectionRecord, Store
from tests.analytics_seed import FOLLOWERS, LIKES, TOP_TAGS, days_ago, seed_posts, seed_snapshot


@pytest.fixture
def seeded(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    seed_snapshot(store, connection)
    seed_posts(store, connection)
    return connection


def _json(client: FlaskClient, path: str, status: int = 200) -> Any:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    return answer.get_json()


def test_a_trend_as_json(viewer_client: FlaskClient, seeded: ConnectionRecord) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/trends?metric=likes&period=7")

    assert found["metric"] == "likes"
    assert found["platform"] == "all"
    assert found["bucket"] == "day"
    assert found["aggregation"] == "sum"
    assert found["total"] == sum(LIKES)
    assert found["estimated"] is False
    assert found["period"]["days"] == 7
    assert len(found["points"]) == 7
    known = [point["value"] for point in found["points"] if point["value"] is not None]
    assert known == LIKES
    assert found["points"][0]["first"] == found["period"]["first"]


def test_a_trend_per_week_of_a_platform(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    found = _json(
        viewer_client,
        f"/api/connections/{seeded.id}/trends?metric=likes&platform=facebook&bucket=week&period=30",
    )

    assert found["total"] == 20
    assert found["estimated"] is True
    assert all(p["last"] >= p["first"] for p in found["points"])
    assert 5 <= len(found["points"]) <= 6  # 30 days span five or six Monday-to-Sunday weeks


def test_followers_read_their_last_count(
    viewer_client: FlaskClient, seeded: ConnectionRecord
) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/trends?metric=followers")

    assert found["aggregation"] == "last"
    assert found["total"] == FOLLOWERS


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("metric=views", "metric"),
        ("period=abc", "period"),
        ("period=367", "period"),
        ("period=-1", "period"),
        ("bucket=hour", "bucket"),
        ("platform=myspace", "platform"),
    ],
)
def test_a_bad_trend_parameter_is_400_naming_it(
    viewer_client: FlaskClient, seeded: ConnectionRecord, query: str, parameter: str
) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/trends?{query}", 400)

    assert found["error"] == "bad_request"
    assert found["message"].startswith(f"{parameter}: ")


def test_the_top_tags(viewer_client: FlaskClient, seeded: ConnectionRecord) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/tags/top?period=7")

    assert [(tag["name"], tag["posts"]) for tag in found["tags"]] == TOP_TAGS
    assert found["tags"][0]["tag_id"] == "tag_open-house"
    limited = _json(viewer_client, f"/api/connections/{seeded.id}/tags/top?period=7&limit=1")
    assert [tag["name"] for tag in limited["tags"]] == ["open-house"]


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=x"])
def test_a_bad_limit_is_400_naming_it(
    viewer_client: FlaskClient, seeded: ConnectionRecord, query: str
) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/tags/top?{query}", 400)

    assert found["message"].startswith("limit: ")


def test_posts_per_tag_over_time(viewer_client: FlaskClient, seeded: ConnectionRecord) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/tags/usage?period=7&bucket=day")

    assert len(found["buckets"]) == 7
    assert [(one["name"], sum(one["counts"])) for one in found["series"]] == TOP_TAGS
    assert all(len(one["counts"]) == 7 for one in found["series"])


def test_the_posts_carrying_a_tag(viewer_client: FlaskClient, seeded: ConnectionRecord) -> None:
    found = _json(viewer_client, f"/api/connections/{seeded.id}/tags/tag_open-house/posts")

    assert found["tag_name"] == "open-house"
    assert found["truncated"] is False
    assert [post["crm_post_id"] for post in found["posts"]] == ["p3", "p2", "p1"]
    assert found["posts"][2]["tags"] == ["open-house", "listing"]
    assert found["posts"][0]["published_at"].startswith(days_ago(2).isoformat())

    first = _json(viewer_client, f"/api/connections/{seeded.id}/tags/tag_open-house/posts?limit=1")
    assert [post["crm_post_id"] for post in first["posts"]] == ["p3"]
    assert first["truncated"] is True

    bad = _json(
        viewer_client, f"/api/connections/{seeded.id}/tags/tag_open-house/posts?limit=0", 400
    )
    assert bad["message"].startswith("limit: ")


def test_an_unknown_connection_is_404(viewer_client: FlaskClient) -> None:
    found = _json(viewer_client, "/api/connections/nope/trends", 404)

    assert found["message"] == "No connection nope."


def test_the_api_needs_a_sign_in_and_answers_401(
    client: FlaskClient, seeded: ConnectionRecord
) -> None:
    for path in ("trends", "tags/top", "tags/usage", "tags/tag_sold/posts"):
        found = _json(client, f"/api/connections/{seeded.id}/{path}", 401)
        assert found["message"] == "Sign in first."
