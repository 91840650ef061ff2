"""Each flow end to end: signed webhook -> web -> Redis -> worker -> sandbox GHL -> sandbox CRM."""

from __future__ import annotations

from sandbox.ghl.seed import seed_location
from tests.functional.harness import System
from tests.functional.spec_check import assert_journal_conforms

DEMO = seed_location("loc_demo")


def test_post_published_writes_every_tag_and_the_posts_own_tags(bridge: System) -> None:
    connection = bridge.new_connection()
    post = DEMO.posts[0]

    answer = bridge.send(
        connection, "post.published", {"post_id": "crm-1", "ghl_post_id": post.id, "title": "Hi"}
    )

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    assert event.attempts == 1
    record = bridge.crm_get(connection, "posts/crm-1")
    assert [t["id"] for t in record["tags"]] == [t.id for t in DEMO.tags]  # all 250: 3 pages
    assert {t["name"] for t in record["tags"]} == {t.name for t in DEMO.tags}
    assert [t["id"] for t in record["post_tags"]] == list(post.tag_ids)
    assert record["ghl_post_id"] == post.id
    stored = bridge.store.get_post(connection.id, "crm-1")
    assert stored is not None
    assert len(stored.tags) == len(DEMO.tags)
    tag_pages = [
        r for r in bridge.ghl_journal() if r["path"].endswith("/tags") and r["method"] == "GET"
    ]
    assert len(tag_pages) == 3


def test_tag_details_requested_attaches_the_full_tag_objects(bridge: System) -> None:
    connection = bridge.new_connection()
    wanted = [DEMO.tags[5].id, DEMO.tags[7].id]

    answer = bridge.send(
        connection, "tag.details_requested", {"post_id": "crm-2", "tag_ids": wanted}
    )

    assert answer.status_code == 202, answer.text
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    record = bridge.crm_get(connection, "posts/crm-2")
    assert record["tag_ids"] == wanted
    assert [t["_id"] for t in record["tag_details"]] == wanted
    assert record["tag_details"][0]["tag"] == DEMO.tags[5].name
    details_calls = [r for r in bridge.ghl_journal() if r["path"].endswith("/tags/details")]
    assert [c["response_status"] for c in details_calls] == [201]


def test_tag_details_requested_names_the_tags_ghl_does_not_know(bridge: System) -> None:
    connection = bridge.new_connection()
    known, unknown = DEMO.tags[11].id, "000000000000000000000000"

    answer = bridge.send(
        connection, "tag.details_requested", {"post_id": "crm-3", "tag_ids": [known, unknown]}
    )

    assert answer.status_code == 202, answer.text
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    record = bridge.crm_get(connection, "posts/crm-3")
    assert record["tag_ids"] == [known, unknown]
    assert [t["_id"] for t in record["tag_details"]] == [known]
    assert record["missing_tag_ids"] == [unknown]


def test_statistics_requested_writes_a_snapshot_of_every_profile(bridge: System) -> None:
    connection = bridge.new_connection()
    profiles = [a.profile_id for a in DEMO.accounts if a.profile_id]

    answer = bridge.send(connection, "statistics.requested", {})

    assert answer.status_code == 202, answer.text
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    (snapshot,) = bridge.crm_get(connection, "statistics")
    assert snapshot["profile_ids"] == profiles
    assert snapshot["location_id"] == "loc_demo"
    assert snapshot["totals"]["posts"] > 0
    assert set(snapshot["platforms"]) <= {"facebook", "instagram", "linkedin", "google", "tiktok"}
    assert len(snapshot["daily"]["day_range"]) == 7
    ours = bridge.store.latest_snapshot(connection.id)
    assert ours is not None
    assert ours.totals == snapshot["totals"]
    stats_calls = [r for r in bridge.ghl_journal() if r["path"].endswith("/statistics")]
    assert len(stats_calls) == 1
    assert stats_calls[0]["body"]["profileIds"] == profiles


def test_statistics_requested_for_a_date_range_lands_the_v3_snapshot(bridge: System) -> None:
    connection = bridge.new_connection()
    profiles = [a.profile_id for a in DEMO.accounts if a.profile_id]

    answer = bridge.send(
        connection, "statistics.requested", {"start_date": "2026-02-01", "end_date": "2026-02-14"}
    )

    assert answer.status_code == 202, answer.text
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "done", event.last_error
    (call,) = [r for r in bridge.ghl_journal() if r["path"].endswith("/statistics")]
    assert call["headers"]["Version"] == "v3"
    assert call["response_status"] == 200
    assert call["body"] == {
        "profileIds": profiles,
        "currentRange": {
            "startDate": "2026-02-01T00:00:00.000Z",
            "endDate": "2026-02-14T23:59:59.999Z",
        },
    }
    # Checked against the v3 file: the 2021-07-28 one has no 200 answer for statistics.
    assert assert_journal_conforms([call]) == 1
    results = call["response_body"]["results"]
    (snapshot,) = bridge.crm_get(connection, "statistics")
    assert (snapshot["start_date"], snapshot["end_date"]) == ("2026-02-01", "2026-02-14")
    assert snapshot["profile_ids"] == profiles
    assert snapshot["totals"] == results["totals"]
    assert all(type(value) is int for value in snapshot["totals"].values())
    assert len(snapshot["daily"]["day_range"]) == 14
    assert snapshot["daily"]["impressions"] == results["postPerformance"]["impressions"]
    ours = bridge.store.latest_snapshot(connection.id)
    assert ours is not None
    assert (ours.start_date.isoformat(), ours.end_date.isoformat()) == ("2026-02-01", "2026-02-14")
    assert ours.totals == snapshot["totals"]


def test_a_duplicate_delivery_runs_once(bridge: System) -> None:
    connection = bridge.new_connection()
    data = {"post_id": "crm-dup"}

    first = bridge.send(connection, "post.published", data, webhook_id="msg_same")
    second = bridge.send(connection, "post.published", data, webhook_id="msg_same")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"event_id": first.json()["event_id"], "status": "duplicate"}
    event = bridge.wait_for(first.json()["event_id"])
    assert event.status == "done"
    assert len(bridge.store.list_events(connection_id=connection.id)) == 1
    stored = [d for d in bridge.crm_deliveries(connection) if d["outcome"] == "stored"]
    assert len(stored) == 1
