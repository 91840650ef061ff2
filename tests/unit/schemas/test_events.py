"""Inbound CRM events: what loads, what is refused (and how the refusal reads), and dumping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.events import (
    EVENT_TYPES,
    STATISTICS_MAX_DAYS,
    STATISTICS_PLATFORMS,
    CrmEvent,
    PostPublished,
    PostPublishedSchema,
    StatisticsRequested,
    TagDetailsRequested,
    dump_event,
    flatten_errors,
    load_event,
)

WHEN = "2026-11-23T10:00:00Z"
OUT_OF_RANGE = "Out of range: in UTC it must fall between years 1 and 9999."


def event(event_type: str, data: Any, **envelope: Any) -> dict[str, Any]:
    return {"type": event_type, "timestamp": WHEN, "data": data, **envelope}


def errors_of(payload: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        load_event(payload)
    return flatten_errors(refused.value.messages)


# --- loading --------------------------------------------------------------------------------


def test_post_published_loads_with_its_defaults() -> None:
    loaded = load_event(event("post.published", {"post_id": "crm-1"}))

    assert loaded == CrmEvent(
        type="post.published",
        timestamp=dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC),
        data=PostPublished(post_id="crm-1"),
    )


def test_post_published_loads_every_field() -> None:
    data = {
        "post_id": "crm-1",
        "location_id": "loc_demo",
        "ghl_post_id": "post_demo_1",
        "published_at": "2026-11-23T09:30:00+01:00",
        "title": "Open house",
    }

    loaded = load_event(event("post.published", data)).data

    assert loaded == PostPublished(
        post_id="crm-1",
        location_id="loc_demo",
        ghl_post_id="post_demo_1",
        published_at=dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC),
        title="Open house",
    )


def test_a_timestamp_without_zone_is_taken_as_utc() -> None:
    loaded = load_event({**event("statistics.requested", {}), "timestamp": "2026-11-23T10:00:00"})

    assert loaded.timestamp == dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_tag_ids_keep_their_order_and_lose_repeats() -> None:
    loaded = load_event(
        event("tag.details_requested", {"post_id": "p", "tag_ids": ["b", "a", "b", "c", "a"]})
    ).data

    assert loaded == TagDetailsRequested(post_id="p", tag_ids=("b", "a", "c"))


def test_statistics_requested_may_be_empty() -> None:
    loaded = load_event(event("statistics.requested", {})).data

    assert loaded == StatisticsRequested()
    assert isinstance(loaded, StatisticsRequested)
    assert loaded.date_range is None


def test_statistics_requested_loads_its_range_profiles_and_platforms() -> None:
    data = {
        "start_date": "2026-11-01",
        "end_date": "2026-11-07",
        "profile_ids": ["p2", "p1", "p2"],
        "platforms": ["instagram", "facebook", "instagram"],
    }

    loaded = load_event(event("statistics.requested", data)).data

    assert loaded == StatisticsRequested(
        start_date=dt.date(2026, 11, 1),
        end_date=dt.date(2026, 11, 7),
        profile_ids=("p2", "p1"),
        platforms=("instagram", "facebook"),
    )
    assert isinstance(loaded, StatisticsRequested)
    assert loaded.date_range == (dt.date(2026, 11, 1), dt.date(2026, 11, 7))


def test_a_one_day_range_is_allowed() -> None:
    data = {"start_date": "2026-11-01", "end_date": "2026-11-01"}

    loaded = load_event(event("statistics.requested", data)).data

    assert isinstance(loaded, StatisticsRequested)
    assert loaded.date_range == (dt.date(2026, 11, 1), dt.date(2026, 11, 1))


def test_the_longest_range_is_allowed() -> None:
    end = dt.date(2026, 11, 1)
    start = end - dt.timedelta(days=STATISTICS_MAX_DAYS - 1)
    data = {"start_date": start.isoformat(), "end_date": end.isoformat()}

    loaded = load_event(event("statistics.requested", data)).data

    assert isinstance(loaded, StatisticsRequested)
    assert loaded.date_range == (start, end)


def test_every_platform_ghl_accepts_is_accepted() -> None:
    data = {"platforms": list(STATISTICS_PLATFORMS)}

    loaded = load_event(event("statistics.requested", data)).data

    assert isinstance(loaded, StatisticsRequested)
    assert loaded.platforms == STATISTICS_PLATFORMS


# --- refusing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        pytest.param(
            ["a", "list"],
            {"_body": ["Expected a JSON object."]},
            id="not-an-object",
        ),
        pytest.param(
            {},
            {
                "type": ["Missing data for required field."],
                "timestamp": ["Missing data for required field."],
                "data": ["Missing data for required field."],
            },
            id="empty",
        ),
        pytest.param(
            {**event("post.published", {"post_id": "p"}), "id": "x"},
            {"id": ["Unknown field."]},
            id="unknown-envelope-field",
        ),
        pytest.param(
            event("post.deleted", {}),
            {
                "type": [
                    "Unknown event type; expected one of: post.published, "
                    "tag.details_requested, statistics.requested."
                ]
            },
            id="unknown-type",
        ),
        pytest.param(
            event("post.published", "p"),
            {"data": ["Not a valid mapping type."]},
            id="data-not-an-object",
        ),
        pytest.param(
            {**event("post.published", {"post_id": "p"}), "timestamp": "yesterday"},
            {"timestamp": ["Not a valid datetime."]},
            id="bad-timestamp",
        ),
        pytest.param(
            event("post.published", {"post_id": ""}),
            {"data.post_id": ["Length must be between 1 and 200."]},
            id="empty-post-id",
        ),
        pytest.param(
            event("post.published", {"post_id": "p" * 201}),
            {"data.post_id": ["Length must be between 1 and 200."]},
            id="long-post-id",
        ),
        pytest.param(
            event("post.published", {"post_id": "p", "title": "t" * 501}),
            {"data.title": ["Longer than maximum length 500."]},
            id="long-title",
        ),
        pytest.param(
            event("post.published", {"post_id": 7}),
            {"data.post_id": ["Not a valid string."]},
            id="number-post-id",
        ),
        pytest.param(
            event("post.published", {"post_id": "p", "published_at": "soon"}),
            {"data.published_at": ["Not a valid datetime."]},
            id="bad-published-at",
        ),
        pytest.param(
            event("tag.details_requested", {"post_id": "p"}),
            {"data.tag_ids": ["Missing data for required field."]},
            id="no-tag-ids",
        ),
        pytest.param(
            event("tag.details_requested", {"post_id": "p", "tag_ids": []}),
            {"data.tag_ids": ["Give between 1 and 500 tag ids."]},
            id="empty-tag-ids",
        ),
        pytest.param(
            event("tag.details_requested", {"post_id": "p", "tag_ids": ["t"] * 501}),
            {"data.tag_ids": ["Give between 1 and 500 tag ids."]},
            id="too-many-tag-ids",
        ),
        pytest.param(
            event("tag.details_requested", {"post_id": "p", "tag_ids": ["ok", ""]}),
            {"data.tag_ids.1": ["Length must be between 1 and 200."]},
            id="empty-tag-id",
        ),
        pytest.param(
            event("statistics.requested", {"start_date": "2026-11-01"}),
            {"data.end_date": ["Give start_date and end_date together."]},
            id="start-alone",
        ),
        pytest.param(
            event("statistics.requested", {"end_date": "2026-11-01"}),
            {"data.start_date": ["Give start_date and end_date together."]},
            id="end-alone",
        ),
        pytest.param(
            event("statistics.requested", {"start_date": "2026-11-02", "end_date": "2026-11-01"}),
            {"data.end_date": ["end_date must not be before start_date."]},
            id="backwards",
        ),
        pytest.param(
            # 2016-11-02 .. 2026-11-01 inclusive is 3,652 days; 2016-10-01 .. is 3,684.
            event("statistics.requested", {"start_date": "2016-10-01", "end_date": "2026-11-01"}),
            {"data.end_date": ["A range spans at most 3660 days (start and end included)."]},
            id="longer-than-ghl-answers",
        ),
        pytest.param(
            event("statistics.requested", {"start_date": "2026-13-01", "end_date": "2026-11-01"}),
            {"data.start_date": ["Not a valid date."]},
            id="no-such-month",
        ),
        pytest.param(
            event("statistics.requested", {"profile_ids": []}),
            {"data.profile_ids": ["Shorter than minimum length 1."]},
            id="empty-profiles",
        ),
        pytest.param(
            event("statistics.requested", {"platforms": ["facebook", "myspace"]}),
            {"data.platforms.1": [f"Must be one of: {', '.join(STATISTICS_PLATFORMS)}."]},
            id="unknown-platform",
        ),
        pytest.param(
            event("statistics.requested", {"colour": "red"}),
            {"data.colour": ["Unknown field."]},
            id="unknown-data-field",
        ),
        pytest.param(
            {**event("statistics.requested", {}), "timestamp": "9999-12-31T23:30:00-01:00"},
            {"timestamp": [OUT_OF_RANGE]},
            id="timestamp-past-9999-in-utc",
        ),
        pytest.param(
            event("post.published", {"post_id": "p", "published_at": "0001-01-01T00:30:00+01:00"}),
            {"data.published_at": [OUT_OF_RANGE]},
            id="published-before-year-1-in-utc",
        ),
        pytest.param(
            event("post.published", {"post_id": "p", "title": "open\ud800house"}),
            {"data.title": ["Contains U+D800 (a lone surrogate), which is not allowed in text."]},
            id="lone-surrogate",
        ),
        pytest.param(
            event("tag.details_requested", {"post_id": "p", "tag_ids": ["a", "b\x00"]}),
            {"data.tag_ids.1": ["Contains U+0000 (NUL), which is not allowed in text."]},
            id="nul-in-a-list",
        ),
        pytest.param(
            event("post.published", {"post_id": "p", "\x00": "x"}),
            {
                "data.\\u0000": [
                    "The field name contains U+0000 (NUL), which is not allowed in text."
                ]
            },
            id="nul-key",
        ),
        pytest.param(
            {**event("post.published", {"post_id": "p"}), "type": "post.published\x00"},
            {"type": ["Contains U+0000 (NUL), which is not allowed in text."]},
            id="nul-in-type",
        ),
    ],
)
def test_invalid_events_are_refused_naming_the_field(
    payload: Any, errors: dict[str, list[str]]
) -> None:
    assert errors_of(payload) == errors


def test_a_data_schema_loaded_on_its_own_refuses_unsafe_text_too() -> None:
    with pytest.raises(ValidationError) as refused:
        PostPublishedSchema().load({"post_id": "p\x00"})

    assert flatten_errors(refused.value.messages) == {
        "post_id": ["Contains U+0000 (NUL), which is not allowed in text."]
    }


def test_times_at_the_edges_of_the_utc_range_load() -> None:
    latest = load_event(
        {**event("statistics.requested", {}), "timestamp": "9999-12-31T23:59:59+00:00"}
    )
    earliest = load_event(
        {**event("statistics.requested", {}), "timestamp": "0001-01-01T00:00:00-01:00"}
    )

    assert dump_event(latest)["timestamp"] == "9999-12-31T23:59:59+00:00"
    assert dump_event(earliest)["timestamp"] == "0001-01-01T01:00:00+00:00"


# --- dumping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        event("post.published", {"post_id": "p"}),
        event(
            "post.published",
            {
                "post_id": "p",
                "location_id": "loc",
                "ghl_post_id": "g",
                "published_at": "2026-11-23T09:30:00+01:00",
                "title": "T",
            },
        ),
        event("tag.details_requested", {"post_id": "p", "tag_ids": ["a", "b", "a"]}),
        event("statistics.requested", {}),
        event(
            "statistics.requested",
            {
                "start_date": "2026-11-01",
                "end_date": "2026-11-07",
                "profile_ids": ["x"],
                "platforms": ["tiktok"],
            },
        ),
    ],
)
def test_a_dumped_event_loads_back_to_the_same_event(payload: dict[str, Any]) -> None:
    loaded = load_event(payload)

    assert load_event(dump_event(loaded)) == loaded


def test_dumping_writes_the_envelope_time_in_utc_and_leaves_out_what_is_unset() -> None:
    payload = {
        **event(
            "post.published",
            {"post_id": "p", "published_at": "2026-11-23T09:30:00+01:00"},
        ),
        "timestamp": "2026-11-23T11:00:00+01:00",
    }

    dumped = dump_event(load_event(payload))

    assert dumped == {
        "type": "post.published",
        "timestamp": "2026-11-23T10:00:00+00:00",
        # The CRM's own times keep their offset: the same instant, as the CRM wrote it.
        "data": {"post_id": "p", "published_at": "2026-11-23T09:30:00+01:00"},
    }


def test_tuples_dump_as_lists_and_dates_as_days() -> None:
    payload = event(
        "statistics.requested",
        {"start_date": "2026-11-01", "end_date": "2026-11-07", "profile_ids": ["x", "y"]},
    )

    assert dump_event(load_event(payload))["data"] == {
        "start_date": "2026-11-01",
        "end_date": "2026-11-07",
        "profile_ids": ["x", "y"],
    }


def test_there_are_three_event_types() -> None:
    assert EVENT_TYPES == ("post.published", "tag.details_requested", "statistics.requested")


# --- flatten_errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "flat"),
    [
        (["wrong"], {"_body": ["wrong"]}),
        ("wrong", {"_body": ["wrong"]}),
        ({"_schema": ["whole body"]}, {"_body": ["whole body"]}),
        ({"data": {"_schema": ["whole data"]}}, {"data": ["whole data"]}),
        (
            {"data": {"tag_ids": {0: ["bad"], 3: ["worse"]}}},
            {
                "data.tag_ids.0": ["bad"],
                "data.tag_ids.3": ["worse"],
            },
        ),
        ({"a": ["x"], "b": {"c": "y"}}, {"a": ["x"], "b.c": ["y"]}),
    ],
)
def test_flatten_errors_gives_one_dotted_path_per_field(
    messages: Any, flat: dict[str, list[str]]
) -> None:
    assert flatten_errors(messages) == flat
