"""The GHL sandbox's call counts (`/_sandbox/journal/counts`) and seeded posts for benchmarks."""

from __future__ import annotations

import pytest

from sandbox.ghl import API_VERSION, DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.ghl.journal import CallCounts, endpoint_template
from sandbox.ghl.seed import POSTS_PER_LOCATION, seed_location

HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Version": API_VERSION}
TAGS = f"/social-media-posting/{DEFAULT_LOCATION}/tags"
TAGS_TEMPLATE = "GET /social-media-posting/{location_id}/tags"
POST_TEMPLATE = "GET /social-media-posting/{location_id}/posts/{post_id}"


def test_an_endpoint_is_named_by_its_method_and_path_template() -> None:
    assert endpoint_template("GET", "/s/<location_id>/posts/<post_id>") == (
        "GET /s/{location_id}/posts/{post_id}"
    )
    assert endpoint_template("GET", "/s/<path:rest>") == "GET /s/{rest}"
    assert endpoint_template("POST", None) == "POST (no route)"


def test_counts_add_up_by_endpoint_and_status_and_clear() -> None:
    counts = CallCounts()
    for status in (200, 200, 429, 200):
        counts.record("GET /a", status)
    counts.record("POST /b", 201)

    snapshot = counts.snapshot()

    assert snapshot == {
        "total": 5,
        "rate_limited": 1,
        "by_status": {"200": 3, "201": 1, "429": 1},
        "by_endpoint": {"GET /a": {"200": 3, "429": 1}, "POST /b": {"201": 1}},
    }
    assert counts.clear() == 5
    assert counts.snapshot()["total"] == 0


def test_the_sandbox_counts_every_ghl_call_including_429s_and_not_its_admin_api() -> None:
    client = create_sandbox_ghl_app(rate_limit=3).test_client()
    for _ in range(4):
        client.get(TAGS, headers=HEADERS)
    client.get(f"/social-media-posting/{DEFAULT_LOCATION}/posts/post_demo_1", headers=HEADERS)
    client.get("/social-media-posting/nowhere", headers=HEADERS)
    client.get("/_sandbox/journal")

    counts = client.get("/_sandbox/journal/counts").get_json()

    assert counts["by_endpoint"][TAGS_TEMPLATE] == {"200": 3, "429": 1}
    assert counts["by_endpoint"][POST_TEMPLATE] == {"429": 1}
    assert counts["by_endpoint"]["GET (no route)"] == {"404": 1}
    assert counts["total"] == 6
    assert counts["rate_limited"] == 2


def test_clearing_the_journal_clears_the_counts() -> None:
    client = create_sandbox_ghl_app().test_client()
    client.get(TAGS, headers=HEADERS)

    client.delete("/_sandbox/journal")

    assert client.get("/_sandbox/journal/counts").get_json()["total"] == 0


def test_counts_outlive_the_journals_bounded_entries() -> None:
    app = create_sandbox_ghl_app()
    sandbox = app.extensions["sandbox_ghl"]
    sandbox.journal._entries = type(sandbox.journal._entries)(maxlen=2)
    client = app.test_client()
    for _ in range(5):
        client.get(TAGS, headers=HEADERS)

    assert len(client.get("/_sandbox/journal").get_json()) == 2
    assert client.get("/_sandbox/journal/counts").get_json()["total"] == 5


def test_a_location_can_be_seeded_with_more_posts_keeping_the_first_ones() -> None:
    few = seed_location("loc_bench", seed=0)
    many = seed_location("loc_bench", seed=0, post_count=600)

    assert len(few.posts) == POSTS_PER_LOCATION
    assert len(many.posts) == 600
    assert many.posts[:POSTS_PER_LOCATION] == few.posts
    assert many.post("post_bench_600") is not None
    assert len({post.id for post in many.posts}) == 600


def test_the_admin_api_seeds_the_posts_asked_for_and_get_post_answers_them() -> None:
    client = create_sandbox_ghl_app().test_client()
    added = client.post(
        "/_sandbox/locations", json={"location_id": "loc_bench", "token": "pit-b", "posts": 600}
    )
    headers = {"Authorization": "Bearer pit-b", "Version": API_VERSION}

    found = client.get("/social-media-posting/loc_bench/posts/post_bench_600", headers=headers)
    missing = client.get("/social-media-posting/loc_bench/posts/post_bench_601", headers=headers)

    assert added.status_code == 201
    assert added.get_json()["posts"] == 600
    assert found.status_code == 200
    assert found.get_json()["results"]["post"]["_id"] == "post_bench_600"
    assert missing.status_code == 400


@pytest.mark.parametrize("posts", [-1, 10_001, "5", True])
def test_the_number_of_posts_is_checked(posts: object) -> None:
    client = create_sandbox_ghl_app().test_client()

    answer = client.post(
        "/_sandbox/locations", json={"location_id": "loc_x", "token": "pit-x", "posts": posts}
    )

    assert answer.status_code == 400
    assert "posts" in answer.get_json()["error"]
