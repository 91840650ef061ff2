"""The three flows as plain functions, against the sandbox GHL and CRM and a real store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask

from sandbox.ghl import DEFAULT_LOCATION
from sandbox.ghl.seed import seed_location
from schemas.events import (
    POST_PUBLISHED,
    STATISTICS_REQUESTED,
    TAG_DETAILS_REQUESTED,
    PostPublished,
    StatisticsRequested,
    TagDetailsRequested,
    load_event,
)
from socialbridge.errors import PermanentError
from store import ConnectionRecord
from tests.unit.workers.conftest import NOW, Bridge
from workers.flows import (
    FLOWS,
    FlowContext,
    attach_tag_details,
    sync_post_tags,
    sync_statistics,
)
from workers.flows.statistics import default_range

DEMO = seed_location(DEFAULT_LOCATION)
DEMO_PROFILES = [a.profile_id for a in DEMO.accounts if a.profile_id is not None]


def brief(tag_id: str, location: Any = DEMO) -> dict[str, str]:
    tag = location.tag(tag_id)
    assert tag is not None
    return {"id": tag.id, "name": tag.name}


def post_published(**data: Any) -> PostPublished:
    loaded = load_event({"type": POST_PUBLISHED, "timestamp": NOW.isoformat(), "data": data}).data
    assert isinstance(loaded, PostPublished)
    return loaded


def tag_details_requested(**data: Any) -> TagDetailsRequested:
    payload = {"type": TAG_DETAILS_REQUESTED, "timestamp": NOW.isoformat(), "data": data}
    loaded = load_event(payload).data
    assert isinstance(loaded, TagDetailsRequested)
    return loaded


def statistics_requested(**data: Any) -> StatisticsRequested:
    payload = {"type": STATISTICS_REQUESTED, "timestamp": NOW.isoformat(), "data": data}
    loaded = load_event(payload).data
    assert isinstance(loaded, StatisticsRequested)
    return loaded


class RewritingGHL(httpx.BaseTransport):
    """The sandbox GHL seen through a proxy that rewrites the JSON of some answers.

    The sandbox's data is fixed; this is how a test meets what a real GHL can answer but the
    sandbox never does (a tag listing that lags behind a post, a location without accounts).
    """

    def __init__(self, app: Flask, path_suffix: str, edit: Callable[[Any], None]) -> None:
        self._sandbox = httpx.WSGITransport(app=app)
        self._suffix = path_suffix
        self._edit = edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._sandbox.handle_request(request)
        if not request.url.path.endswith(self._suffix) or response.status_code != 200:
            return response
        body = json.loads(response.read())
        self._edit(body)
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
        }
        return httpx.Response(response.status_code, headers=headers, json=body)


# --- the table ------------------------------------------------------------------------------


def test_every_event_type_has_its_flow() -> None:
    expected = {
        POST_PUBLISHED: sync_post_tags,
        TAG_DETAILS_REQUESTED: attach_tag_details,
        STATISTICS_REQUESTED: sync_statistics,
    }
    assert expected == FLOWS


# --- FlowContext ----------------------------------------------------------------------------


def test_the_idempotency_key_is_the_event_and_the_write(bridge: Bridge) -> None:
    connection = bridge.connection()
    with bridge.context(connection, "evt_42") as ctx:
        assert ctx.idempotency_key("post.tags_synced") == "evt_42.post.tags_synced"
        assert ctx.idempotency_key("post.tags_synced") == ctx.idempotency_key("post.tags_synced")


def test_today_is_the_utc_day_of_now(bridge: Bridge) -> None:
    connection = bridge.connection()
    with bridge.context(connection) as ctx:
        east = dt.datetime(2026, 3, 10, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
        shifted = FlowContext(
            connection=ctx.connection,
            event_id=ctx.event_id,
            ghl=ctx.ghl,
            crm=ctx.crm,
            store=ctx.store,
            now=east,
        )
        assert shifted.today == dt.date(2026, 3, 9)


def test_location_for_defaults_to_the_connection_and_refuses_another(bridge: Bridge) -> None:
    connection = bridge.connection()
    with bridge.context(connection) as ctx:
        assert ctx.location_for(None) == DEFAULT_LOCATION
        assert ctx.location_for(DEFAULT_LOCATION) == DEFAULT_LOCATION
        with pytest.raises(PermanentError) as refused:
            ctx.location_for("loc_other")
    assert refused.value.system == "socialbridge"
    assert str(refused.value) == (
        "socialbridge: data.location_id 'loc_other' is not this connection's location 'loc_demo'"
    )


# --- post.published -------------------------------------------------------------------------


def test_post_tags_reads_every_page_and_writes_the_tags_back(bridge: Bridge) -> None:
    connection = bridge.connection()
    progress: list[str] = []

    with bridge.context(connection, "evt_tags", progress=progress) as ctx:
        record = sync_post_tags(ctx, post_published(post_id="crm-1", title="Open house"))

    every_tag = [{"id": tag.id, "name": tag.name} for tag in DEMO.tags]
    assert len(every_tag) == 250
    assert record.tags == every_tag
    assert record.post_tags == []
    assert record.ghl_post_id is None
    assert record.title == "Open house"
    assert bridge.store.get_post(connection.id, "crm-1") == record
    pages = [(e["query"]["limit"], e["query"]["skip"]) for e in bridge.journal("/tags")]
    assert pages == [("100", "0"), ("100", "100"), ("100", "200")]
    [crm_post] = bridge.crm_posts(connection)
    assert crm_post["tags"] == every_tag
    assert crm_post["post_tags"] == []
    assert crm_post["ghl_post_id"] is None
    [delivery] = bridge.deliveries(connection)
    assert delivery["webhook_id"] == "evt_tags.post.tags_synced"
    assert delivery["outcome"] == "stored"
    assert progress == [
        "fetched 250 tags of location loc_demo",
        "wrote post.tags_synced for CRM post crm-1",
    ]


def test_post_tags_resolves_the_ghl_posts_own_tags(bridge: Bridge) -> None:
    connection = bridge.connection()
    post = DEMO.post("post_demo_2")
    assert post is not None
    progress: list[str] = []

    with bridge.context(connection, progress=progress) as ctx:
        record = sync_post_tags(ctx, post_published(post_id="crm-2", ghl_post_id="post_demo_2"))

    expected = [brief(tag_id) for tag_id in post.tag_ids]
    assert len(expected) == 3
    assert record.post_tags == expected
    assert record.ghl_post_id == "post_demo_2"
    assert [e["path"] for e in bridge.journal("/posts/")] == [
        "/social-media-posting/loc_demo/posts/post_demo_2"
    ]
    # Every tag of the post was in the listing: no need to ask for details.
    assert bridge.journal("/tags/details") == []
    [crm_post] = bridge.crm_posts(connection)
    assert crm_post["post_tags"] == expected
    assert crm_post["ghl_post_id"] == "post_demo_2"
    assert "post post_demo_2 carries 3 tags" in progress


def test_a_post_tag_the_listing_lacks_is_fetched_by_id(bridge: Bridge) -> None:
    bridge.add_location("loc_small", "pit-small", tags=20)
    small = seed_location("loc_small", tag_count=20)
    post = small.post("post_small_1")
    assert post is not None
    lagging = post.tag_ids[1]

    def drop_the_new_tag(body: Any) -> None:
        tags = body["results"]["tags"]
        body["results"]["tags"] = [tag for tag in tags if tag["_id"] != lagging]
        body["results"]["count"] = len(body["results"]["tags"])

    connection = bridge.connection(location_id="loc_small", ghl_token="pit-small")
    ghl = RewritingGHL(bridge.ghl_app, "/tags", drop_the_new_tag)

    with bridge.context(connection, ghl_transport=ghl) as ctx:
        record = sync_post_tags(ctx, post_published(post_id="crm-3", ghl_post_id="post_small_1"))

    assert record.post_tags == [brief(tag_id, small) for tag_id in post.tag_ids]
    assert brief(lagging, small) not in record.tags
    assert len(record.tags) == 19
    [details] = bridge.journal("/tags/details")
    assert details["body"] == {"tagIds": [lagging]}


def test_an_unknown_ghl_post_fails_for_good_and_writes_nothing(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx, pytest.raises(PermanentError) as failed:
        sync_post_tags(ctx, post_published(post_id="crm-4", ghl_post_id="post_demo_99"))

    assert failed.value.system == "ghl"
    assert failed.value.status == 400
    assert failed.value.message == "Post with id post_demo_99 not found"
    assert bridge.store.get_post(connection.id, "crm-4") is None
    assert bridge.deliveries(connection) == []


def test_another_location_is_refused_before_ghl_is_called(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx, pytest.raises(PermanentError, match="loc_other"):
        sync_post_tags(ctx, post_published(post_id="crm-5", location_id="loc_other"))

    assert bridge.journal() == []
    assert bridge.deliveries(connection) == []


def test_running_post_tags_twice_keeps_one_record_and_one_write_back_id(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = post_published(post_id="crm-6", ghl_post_id="post_demo_1")

    with bridge.context(connection, "evt_twice") as ctx:
        first = sync_post_tags(ctx, event)
    with bridge.context(connection, "evt_twice") as ctx:
        second = sync_post_tags(ctx, event)

    assert second.tags == first.tags
    assert second.post_tags == first.post_tags
    assert bridge.store.list_posts(connection.id) == [second]
    deliveries = bridge.deliveries(connection)
    assert [d["webhook_id"] for d in deliveries] == ["evt_twice.post.tags_synced"] * 2
    assert [d["outcome"] for d in deliveries] == ["stored", "duplicate"]


# --- tag.details_requested ------------------------------------------------------------------


def test_tag_details_are_stored_and_written_back_exactly_as_ghl_sent_them(
    bridge: Bridge,
) -> None:
    connection = bridge.connection()
    wanted = [DEMO.tags[7].id, DEMO.tags[0].id, DEMO.tags[120].id]
    progress: list[str] = []

    with bridge.context(connection, "evt_details", progress=progress) as ctx:
        record = attach_tag_details(
            ctx, tag_details_requested(post_id="crm-7", tag_ids=[*wanted, "not-a-tag"])
        )

    expected = [tag.to_json() for tag in (DEMO.tags[7], DEMO.tags[0], DEMO.tags[120])]
    assert record.tag_details == expected
    assert record.location_id == DEFAULT_LOCATION
    [call] = bridge.journal("/tags/details")
    assert call["body"] == {"tagIds": [*wanted, "not-a-tag"]}
    assert call["response_status"] == 201
    [crm_post] = bridge.crm_posts(connection)
    assert crm_post["tag_details"] == expected
    assert crm_post["tag_ids"] == [*wanted, "not-a-tag"]
    assert crm_post["missing_tag_ids"] == ["not-a-tag"]
    [delivery] = bridge.deliveries(connection)
    assert delivery["webhook_id"] == "evt_details.post.tag_details_attached"
    assert progress == [
        "fetched details of 3 of 4 tags; GHL does not know not-a-tag",
        "wrote post.tag_details_attached for CRM post crm-7",
    ]


def test_tag_details_of_known_tags_name_no_missing_one(bridge: Bridge) -> None:
    connection = bridge.connection()
    wanted = [DEMO.tags[1].id, DEMO.tags[2].id]

    with bridge.context(connection) as ctx:
        attach_tag_details(ctx, tag_details_requested(post_id="crm-8", tag_ids=wanted))

    [crm_post] = bridge.crm_posts(connection)
    assert [tag["_id"] for tag in crm_post["tag_details"]] == wanted
    assert crm_post["missing_tag_ids"] == []


def test_tag_details_of_unknown_tags_only_say_so(bridge: Bridge) -> None:
    connection = bridge.connection()
    progress: list[str] = []

    with bridge.context(connection, progress=progress) as ctx:
        record = attach_tag_details(
            ctx, tag_details_requested(post_id="crm-9", tag_ids=["gone-1", "gone-2", "gone-1"])
        )

    assert record.tag_details == []
    [crm_post] = bridge.crm_posts(connection)
    assert crm_post["tag_details"] == []
    assert crm_post["missing_tag_ids"] == ["gone-1", "gone-2"]
    assert progress[0] == "fetched details of 0 of 2 tags; GHL does not know gone-1, gone-2"


def test_tag_details_for_another_location_are_refused(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx, pytest.raises(PermanentError):
        attach_tag_details(
            ctx, tag_details_requested(post_id="p", tag_ids=["t"], location_id="loc_x")
        )

    assert bridge.journal() == []


# --- statistics.requested -------------------------------------------------------------------


def expected_totals(bridge: Bridge, connection: ConnectionRecord) -> dict[str, float]:
    """What GHL answers for the demo profiles in one call."""
    with bridge.services.ghl_for(connection) as ghl:
        return ghl.statistics(DEFAULT_LOCATION, DEMO_PROFILES).totals


def test_statistics_of_the_accounts_profiles_become_a_snapshot(bridge: Bridge) -> None:
    connection = bridge.connection()
    progress: list[str] = []

    with bridge.context(connection, "evt_stats", progress=progress) as ctx:
        snapshot = sync_statistics(ctx, statistics_requested())

    start, end = dt.date(2026, 3, 3), dt.date(2026, 3, 9)
    assert default_range(NOW.date()) == (start, end)
    assert (snapshot.start_date, snapshot.end_date) == (start, end)
    assert snapshot.profile_ids == DEMO_PROFILES
    assert len(DEMO_PROFILES) == 5
    [call] = bridge.journal("/statistics")
    assert call["query"] == {"locationId": DEFAULT_LOCATION}
    assert call["body"] == {"profileIds": DEMO_PROFILES}
    totals = expected_totals(bridge, connection)
    assert totals
    assert snapshot.totals == totals
    assert bridge.store.latest_snapshot(connection.id) == snapshot
    [crm_stats] = bridge.crm_statistics(connection)
    assert crm_stats["totals"] == totals
    assert crm_stats["start_date"] == "2026-03-03"
    assert crm_stats["end_date"] == "2026-03-09"
    assert crm_stats["profile_ids"] == DEMO_PROFILES
    assert crm_stats["webhook_id"] == "evt_stats.location.statistics_synced"
    assert progress == [
        "6 accounts, 5 with a profileId",
        "statistics batch 1/1: 5 profiles",
        "wrote location.statistics_synced for 2026-03-03..2026-03-09",
    ]


def test_more_than_100_profiles_go_in_batches_of_100(bridge: Bridge) -> None:
    connection = bridge.connection()
    # Profiles the location does not have add nothing at the sandbox, so the sum of the
    # batches must equal one call for the five real ones.
    unknown = [f"profile-{n:03d}" for n in range(200)]
    profiles = [*unknown[:150], *DEMO_PROFILES, *unknown[150:]]
    progress: list[str] = []

    with bridge.context(connection, progress=progress) as ctx:
        snapshot = sync_statistics(ctx, statistics_requested(profile_ids=profiles))

    calls = bridge.journal("/statistics")
    assert [call["body"]["profileIds"] for call in calls] == [
        profiles[:100],
        profiles[100:200],
        profiles[200:],
    ]
    assert bridge.journal("/accounts") == []
    assert snapshot.profile_ids == profiles
    assert snapshot.totals == expected_totals(bridge, connection)
    assert progress[:3] == [
        "statistics batch 1/3: 100 profiles",
        "statistics batch 2/3: 100 profiles",
        "statistics batch 3/3: 5 profiles",
    ]


def test_statistics_pass_the_platforms_on(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx:
        sync_statistics(ctx, statistics_requested(platforms=["facebook", "instagram"]))

    [call] = bridge.journal("/statistics")
    assert call["body"] == {"profileIds": DEMO_PROFILES, "platforms": ["facebook", "instagram"]}


def test_a_location_without_profiles_gets_an_empty_snapshot(bridge: Bridge) -> None:
    def only_disconnected_accounts(body: Any) -> None:
        accounts = body["results"]["accounts"]
        body["results"]["accounts"] = [a for a in accounts if "profileId" not in a]

    connection = bridge.connection()
    ghl = RewritingGHL(bridge.ghl_app, "/accounts", only_disconnected_accounts)
    progress: list[str] = []

    with bridge.context(connection, ghl_transport=ghl, progress=progress) as ctx:
        snapshot = sync_statistics(ctx, statistics_requested())

    assert bridge.journal("/statistics") == []
    assert snapshot.profile_ids == []
    assert snapshot.totals == {}
    assert snapshot.platforms == {}
    assert snapshot.daily == {}
    assert snapshot.day_range == []
    assert bridge.store.latest_snapshot(connection.id) == snapshot
    [crm_stats] = bridge.crm_statistics(connection)
    assert crm_stats["profile_ids"] == []
    assert crm_stats["totals"] == {}
    assert crm_stats["daily"] == {"day_range": []}
    assert progress[0] == "1 accounts, 0 with a profileId"


def _types(value: Any) -> Any:
    """The same shape with every leaf replaced by the name of its type."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_types(item) for item in value]
    return type(value).__name__


def test_a_date_range_is_asked_in_v3_and_written_back_with_its_totals(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = statistics_requested(start_date="2026-02-01", end_date="2026-02-28")
    progress: list[str] = []

    with bridge.context(connection, "evt_range", progress=progress) as ctx:
        snapshot = sync_statistics(ctx, event)

    [call] = bridge.journal("/statistics")
    assert call["headers"]["Version"] == "v3"
    assert call["response_status"] == 200
    assert call["body"] == {
        "profileIds": DEMO_PROFILES,
        "currentRange": {
            "startDate": "2026-02-01T00:00:00.000Z",
            "endDate": "2026-02-28T23:59:59.999Z",
        },
    }
    assert [entry["headers"]["Version"] for entry in bridge.journal("/accounts")] == ["2021-07-28"]
    answer = call["response_body"]["results"]
    assert (snapshot.start_date, snapshot.end_date) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert snapshot.totals == answer["totals"]
    assert len(snapshot.day_range) == 28
    assert snapshot.daily["impressions"] == answer["postPerformance"]["impressions"]
    [crm_stats] = bridge.crm_statistics(connection)
    assert (crm_stats["start_date"], crm_stats["end_date"]) == ("2026-02-01", "2026-02-28")
    assert crm_stats["totals"] == answer["totals"]
    assert len(crm_stats["daily"]["day_range"]) == 28
    assert progress[-1] == "wrote location.statistics_synced for 2026-02-01..2026-02-28"


def test_statistics_stay_integers_in_the_store_and_the_write_back(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx:
        sync_statistics(ctx, statistics_requested(start_date="2026-01-01", end_date="2026-01-03"))

    stored = bridge.store.latest_snapshot(connection.id)
    [crm_stats] = bridge.crm_statistics(connection)
    assert stored is not None
    for numbers in (stored.totals, stored.platforms, stored.daily):
        assert "float" not in str(_types(numbers)), _types(numbers)
    for name in ("totals", "platforms", "daily"):
        assert "float" not in str(_types(crm_stats[name])), _types(crm_stats[name])
    assert all(type(value) is int for value in stored.totals.values())


def test_a_date_range_of_more_than_100_profiles_adds_up_its_batches(bridge: Bridge) -> None:
    connection = bridge.connection()
    unknown = [f"profile-{n:03d}" for n in range(120)]
    event = statistics_requested(
        profile_ids=[*unknown, *DEMO_PROFILES], start_date="2026-01-10", end_date="2026-01-12"
    )

    with bridge.context(connection) as ctx:
        snapshot = sync_statistics(ctx, event)

    calls = bridge.journal("/statistics")
    assert [len(call["body"]["profileIds"]) for call in calls] == [100, 25]
    assert {call["headers"]["Version"] for call in calls} == {"v3"}
    with bridge.services.ghl_for(connection) as ghl:
        one_call = ghl.statistics(
            DEFAULT_LOCATION,
            DEMO_PROFILES,
            date_range=(dt.date(2026, 1, 10), dt.date(2026, 1, 12)),
        )
    assert snapshot.totals == one_call.totals
    assert snapshot.daily == one_call.daily
