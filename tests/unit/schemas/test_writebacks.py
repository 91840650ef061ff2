"""Write-back schemas: what socialbridge may send, and what a CRM accepts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas import writebacks
from schemas.writebacks import (
    STATISTICS_SYNCED,
    TAG_DETAILS_ATTACHED,
    TAGS_SYNCED,
    WRITEBACK_SCHEMAS,
    WRITEBACK_TYPES,
    StatisticsSynced,
    TagDetailsAttached,
    TagRef,
    TagsSynced,
    dump_writeback,
    load_writeback,
    writeback_json,
)

SENT_AT = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)


def tags_synced(**changes: Any) -> dict[str, Any]:
    return {
        "post_id": "crm-post-1",
        "location_id": "loc-1",
        "ghl_post_id": "ghl-post-1",
        "tags": [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}],
        "post_tags": [{"id": "t1", "name": "Listing"}],
        "synced_at": "2026-11-23T10:00:00Z",
        **changes,
    }


def tag_details(**changes: Any) -> dict[str, Any]:
    return {
        "post_id": "crm-post-1",
        "location_id": "loc-1",
        "tag_ids": ["t1"],
        "tags": [{"_id": "t1", "tag": "Listing", "locationId": "loc-1", "deleted": False}],
        "synced_at": "2026-11-23T10:00:00Z",
        **changes,
    }


def statistics(**changes: Any) -> dict[str, Any]:
    return {
        "location_id": "loc-1",
        "start_date": "2026-11-16",
        "end_date": "2026-11-22",
        "profile_ids": ["p1", "p2"],
        "totals": {"posts": 4, "likes": 12, "impressions": 830.5},
        "platforms": {"facebook": {"likes": 10}, "instagram": {"likes": 2}},
        "daily": {"day_range": ["Mon", "Tue", "Wed"], "likes": [1, 5, 6], "posts": [0, 2, 2]},
        "synced_at": "2026-11-23T10:00:00Z",
        **changes,
    }


def messages_of(type_: str, data: dict[str, Any]) -> Any:
    with pytest.raises(ValidationError) as caught:
        dump_writeback(type_, data)
    return caught.value.messages


def test_every_type_has_a_schema() -> None:
    assert set(WRITEBACK_SCHEMAS) == set(WRITEBACK_TYPES)


def test_tags_synced_dumps_the_envelope() -> None:
    envelope = dump_writeback(TAGS_SYNCED, tags_synced(), timestamp=SENT_AT)

    assert envelope == {
        "type": TAGS_SYNCED,
        "timestamp": "2026-11-23T10:00:05Z",
        "data": tags_synced(),
    }
    # Only JSON primitives: the envelope goes straight to json.dumps.
    assert json.loads(json.dumps(envelope)) == envelope


def test_tags_synced_without_a_ghl_post_has_no_post_tags() -> None:
    data = tags_synced()
    del data["ghl_post_id"], data["post_tags"]

    envelope = dump_writeback(TAGS_SYNCED, data)

    assert envelope["data"]["ghl_post_id"] is None
    assert envelope["data"]["post_tags"] == []


def test_tags_synced_says_when_the_tags_were_fetched_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    fetched_at = dt.datetime(2026, 11, 23, 10, 59, 30, 250000, tzinfo=paris)

    envelope = dump_writeback(TAGS_SYNCED, tags_synced(tags_fetched_at=fetched_at))

    assert envelope["data"]["tags_fetched_at"] == "2026-11-23T09:59:30.250000Z"
    loaded = load_writeback(envelope).data
    assert isinstance(loaded, TagsSynced)
    assert loaded.tags_fetched_at == fetched_at


def test_a_tags_synced_without_tags_fetched_at_loads_and_dumps_without_it() -> None:
    # Write-backs sent before the field existed (a CRM's stored ones) still load.
    envelope = dump_writeback(TAGS_SYNCED, tags_synced())

    assert "tags_fetched_at" not in envelope["data"]
    loaded = load_writeback(envelope)
    assert isinstance(loaded.data, TagsSynced)
    assert loaded.data.tags_fetched_at is None
    assert "tags_fetched_at" not in writeback_json(loaded)["data"]


def test_python_values_are_accepted_and_written_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    data = statistics(
        start_date=dt.date(2026, 11, 16),
        end_date=dt.date(2026, 11, 22),
        synced_at=dt.datetime(2026, 11, 23, 11, 0, tzinfo=paris),
    )

    envelope = dump_writeback(STATISTICS_SYNCED, data, timestamp=SENT_AT)

    assert envelope["data"]["start_date"] == "2026-11-16"
    assert envelope["data"]["synced_at"] == "2026-11-23T10:00:00Z"


def test_numbers_keep_their_kind() -> None:
    envelope = dump_writeback(STATISTICS_SYNCED, statistics())

    assert envelope["data"]["totals"] == {"posts": 4, "likes": 12, "impressions": 830.5}
    assert isinstance(envelope["data"]["totals"]["posts"], int)


def test_tag_details_keep_ghl_tag_objects_as_sent() -> None:
    envelope = dump_writeback(TAG_DETAILS_ATTACHED, tag_details())

    assert envelope["data"]["tags"] == tag_details()["tags"]


def test_tag_details_name_the_ids_ghl_did_not_know() -> None:
    data = tag_details(tag_ids=["t1", "t9"], missing_tag_ids=["t9"])

    envelope = dump_writeback(TAG_DETAILS_ATTACHED, data)

    assert envelope["data"]["tag_ids"] == ["t1", "t9"]
    assert envelope["data"]["missing_tag_ids"] == ["t9"]


def test_tag_details_always_write_missing_tag_ids() -> None:
    envelope = dump_writeback(TAG_DETAILS_ATTACHED, tag_details())

    assert envelope["data"]["missing_tag_ids"] == []
    loaded = load_writeback(envelope).data
    assert isinstance(loaded, TagDetailsAttached)
    assert loaded.missing_tag_ids == ()


def test_a_tag_list_is_checked_once_and_sent_the_same_each_time() -> None:
    tags = [{"id": f"tag-{n}", "name": f"Tag {n}"} for n in range(250)]
    data = tags_synced(tags=tags)
    expected = writeback_json(load_writeback(dump_writeback(TAGS_SYNCED, data, timestamp=SENT_AT)))
    before = writebacks._checked_tags.cache_info()

    envelopes = [dump_writeback(TAGS_SYNCED, data, timestamp=SENT_AT) for _ in range(3)]

    after = writebacks._checked_tags.cache_info()
    assert after.hits - before.hits == 3
    assert envelopes == [expected] * 3
    assert envelopes[0]["data"]["tags"] == tags
    # Each envelope has lists of its own: changing one changes no other.
    envelopes[0]["data"]["tags"][0]["name"] = "changed"
    assert envelopes[1]["data"]["tags"][0]["name"] == "Tag 0"


def test_an_invalid_tag_list_is_refused_every_time() -> None:
    data = tags_synced(tags=[{"id": "t1", "name": "Lis\x00ting"}])

    first, second = messages_of(TAGS_SYNCED, data), messages_of(TAGS_SYNCED, data)

    refused = "Contains U+0000 (NUL), which is not allowed in text."
    assert first == second == {"tags.0.name": [refused]}


def test_a_known_tag_list_leaves_the_other_fields_checked() -> None:
    dump_writeback(TAGS_SYNCED, tags_synced())

    messages = messages_of(TAGS_SYNCED, tags_synced(post_id="", colour="red"))

    assert messages == {
        "post_id": ["Length must be between 1 and 200."],
        "colour": ["Unknown field."],
    }


def received_tags_synced(tags: Any, **changes: Any) -> dict[str, Any]:
    """A ``post.tags_synced`` as a CRM receives it (JSON-decoded)."""
    return {
        "type": TAGS_SYNCED,
        "timestamp": "2026-11-23T10:00:05Z",
        "data": tags_synced(tags=tags, **changes),
    }


def envelope_messages(payload: Any) -> Any:
    """What the envelope schema itself says of ``payload`` (no tag list remembered)."""
    with pytest.raises(ValidationError) as caught:
        writebacks._ENVELOPE.load(payload)
    return caught.value.messages


def test_a_received_tag_list_is_checked_once_and_loaded_the_same_each_time() -> None:
    tags = [{"id": f"in-{n}", "name": f"Tag {n}"} for n in range(250)]
    payload = received_tags_synced(tags)
    expected = writebacks._ENVELOPE.load(payload)
    before = writebacks._loaded_tags.cache_info()

    envelopes = [load_writeback(json.loads(json.dumps(payload))) for _ in range(3)]

    after = writebacks._loaded_tags.cache_info()
    assert after.hits - before.hits >= 2
    assert envelopes == [expected] * 3
    assert isinstance(envelopes[0].data, TagsSynced)
    assert envelopes[0].data.tags == tuple(TagRef(f"in-{n}", f"Tag {n}") for n in range(250))
    assert [writeback_json(envelope) for envelope in envelopes] == [writeback_json(expected)] * 3
    assert writeback_json(envelopes[0])["data"]["tags"] == tags


NUL = "Contains U+0000 (NUL), which is not allowed in text."


@pytest.mark.parametrize(
    ("tags", "changes", "expected"),
    [
        # The list known, another field wrong: that field is named as before.
        (
            None,
            {"post_id": "", "colour": "red"},
            {
                "data": {
                    "post_id": ["Length must be between 1 and 200."],
                    "colour": ["Unknown field."],
                }
            },
        ),
        (None, {"post_id": "Lis\x00ting"}, {"data.post_id": [NUL]}),
        (None, {"synced_at": "yesterday"}, {"data": {"synced_at": ["Not a valid datetime."]}}),
        # The known list changed: each change is found.
        ([{"id": "t1", "name": "Lis\x00ting"}], {}, {"data.tags.0.name": [NUL]}),
        (
            [{"id": "t1"}],
            {},
            {"data": {"tags": {0: {"name": ["Missing data for required field."]}}}},
        ),
        (
            [{"id": "t" * 201, "name": "Listing"}],
            {},
            {"data": {"tags": {0: {"id": ["Length must be between 1 and 200."]}}}},
        ),
        (
            [{"id": 1, "name": "Listing"}],
            {},
            {"data": {"tags": {0: {"id": ["Not a valid string."]}}}},
        ),
        (
            [{"id": "t1", "name": "Listing", "colour": "red"}],
            {},
            {"data": {"tags": {0: {"colour": ["Unknown field."]}}}},
        ),
        (["t1"], {}, {"data": {"tags": {0: {"_schema": ["Invalid input type."]}}}}),
        ("t1", {}, {"data": {"tags": ["Not a valid list."]}}),
    ],
)
def test_a_received_write_back_is_refused_as_the_envelope_schema_refuses_it(
    tags: Any, changes: dict[str, Any], expected: Any
) -> None:
    known = [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}]
    load_writeback(received_tags_synced(known))
    payload = received_tags_synced(known if tags is None else tags, **changes)

    with pytest.raises(ValidationError) as caught:
        load_writeback(payload)

    assert caught.value.messages == expected == envelope_messages(payload)


def test_unknown_type_is_named() -> None:
    messages = messages_of("post.deleted", tags_synced())

    assert "type" in messages
    assert "post.tags_synced" in messages["type"][0]


@pytest.mark.parametrize(
    ("type_", "data", "expected"),
    [
        (
            TAGS_SYNCED,
            tags_synced(tags=[{"name": "Listing"}]),
            {"tags": {0: {"id": ["Missing data for required field."]}}},
        ),
        (TAGS_SYNCED, tags_synced(colour="red"), {"colour": ["Unknown field."]}),
        (TAGS_SYNCED, tags_synced(post_id=""), {"post_id": ["Length must be between 1 and 200."]}),
        (TAGS_SYNCED, tags_synced(synced_at="yesterday"), {"synced_at": ["Not a valid datetime."]}),
        (
            TAGS_SYNCED,
            tags_synced(tags_fetched_at="a minute ago"),
            {"tags_fetched_at": ["Not a valid datetime."]},
        ),
        (
            TAG_DETAILS_ATTACHED,
            tag_details(tag_ids=[]),
            {"tag_ids": ["Give at least 1 tag id."]},
        ),
        (
            TAG_DETAILS_ATTACHED,
            tag_details(tags=["t1"]),
            {"tags": {0: ["Not a valid mapping type."]}},
        ),
        (
            TAG_DETAILS_ATTACHED,
            tag_details(missing_tag_ids=["t7"]),
            {
                "missing_tag_ids": [
                    "Every missing tag id must be one of tag_ids; not asked for: ['t7']."
                ]
            },
        ),
        (
            TAG_DETAILS_ATTACHED,
            tag_details(missing_tag_ids="t1"),
            {"missing_tag_ids": ["Not a valid list."]},
        ),
        (
            TAG_DETAILS_ATTACHED,
            tag_details(missing_tag_ids=[""]),
            {"missing_tag_ids": {0: ["Length must be between 1 and 200."]}},
        ),
        (
            STATISTICS_SYNCED,
            statistics(totals={"likes": "12"}),
            {"totals": {"likes": {"value": ["Not a valid number."]}}},
        ),
        (
            STATISTICS_SYNCED,
            statistics(totals={"likes": True}),
            {"totals": {"likes": {"value": ["Not a valid number."]}}},
        ),
        (
            STATISTICS_SYNCED,
            statistics(start_date="2026-11-16T00:00:00Z"),
            {"start_date": ["Not a valid date."]},
        ),
        (
            STATISTICS_SYNCED,
            statistics(start_date="2026-11-23", end_date="2026-11-22"),
            {"end_date": ["end_date must not be before start_date."]},
        ),
        (
            STATISTICS_SYNCED,
            statistics(platforms={"facebook": {"likes": None}}),
            {
                "platforms": {
                    "facebook": {"value": {"likes": {"value": ["Field may not be null."]}}}
                }
            },
        ),
    ],
)
def test_invalid_data_names_the_field(type_: str, data: dict[str, Any], expected: Any) -> None:
    assert messages_of(type_, data) == expected


@pytest.mark.parametrize(
    ("daily", "expected"),
    [
        ({"likes": [1, 2, 3]}, {"day_range": ["Missing data for required field."]}),
        (
            {"day_range": "Mon", "likes": [1]},
            {"day_range": ["Expected a list of day labels (strings)."]},
        ),
        (
            {"day_range": ["Mon", "Tue"], "likes": [1]},
            {"likes": ["Expected one number per day of day_range (2); got 1."]},
        ),
        ({"day_range": ["Mon"], "likes": ["1"]}, {"likes": {0: ["Not a valid number."]}}),
        (
            {"day_range": ["Mon"], "likes": 1},
            {"likes": ["Expected a list of numbers, one per day of day_range."]},
        ),
        ([1, 2], ["Not a valid mapping type."]),
    ],
)
def test_daily_series_line_up_with_the_days(daily: Any, expected: Any) -> None:
    assert messages_of(STATISTICS_SYNCED, statistics(daily=daily)) == {"daily": expected}


def test_load_writeback_returns_values() -> None:
    envelope = load_writeback(dump_writeback(TAGS_SYNCED, tags_synced(), timestamp=SENT_AT))

    assert envelope.type == TAGS_SYNCED
    assert envelope.timestamp == SENT_AT
    assert envelope.data == TagsSynced(
        post_id="crm-post-1",
        location_id="loc-1",
        ghl_post_id="ghl-post-1",
        tags=(TagRef("t1", "Listing"), TagRef("t2", "Open house")),
        post_tags=(TagRef("t1", "Listing"),),
        synced_at=dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize(
    ("type_", "data", "value_type"),
    [
        (TAGS_SYNCED, tags_synced(), TagsSynced),
        (TAGS_SYNCED, tags_synced(tags_fetched_at="2026-11-23T09:59:30.250000Z"), TagsSynced),
        (TAG_DETAILS_ATTACHED, tag_details(), TagDetailsAttached),
        (STATISTICS_SYNCED, statistics(), StatisticsSynced),
    ],
)
def test_what_is_dumped_loads_back_unchanged(
    type_: str, data: dict[str, Any], value_type: type
) -> None:
    sent = dump_writeback(type_, data, timestamp=SENT_AT)

    received = load_writeback(json.loads(json.dumps(sent)))

    assert isinstance(received.data, value_type)
    assert writeback_json(received) == sent


def test_load_writeback_nests_data_errors_under_data() -> None:
    payload = {"type": TAGS_SYNCED, "timestamp": "2026-11-23T10:00:05Z", "data": {"post_id": "p"}}

    with pytest.raises(ValidationError) as caught:
        load_writeback(payload)

    assert caught.value.messages == {
        "data": {
            "location_id": ["Missing data for required field."],
            "tags": ["Missing data for required field."],
            "synced_at": ["Missing data for required field."],
        }
    }


def test_load_writeback_reports_only_the_unknown_type() -> None:
    payload = {"type": "ping", "timestamp": "2026-11-23T10:00:05Z", "data": {}}

    with pytest.raises(ValidationError) as caught:
        load_writeback(payload)

    assert list(caught.value.messages) == ["type"]


@pytest.mark.parametrize("payload", [[], "text", None])
def test_load_writeback_wants_an_object(payload: Any) -> None:
    with pytest.raises(ValidationError, match="Expected a JSON object"):
        load_writeback(payload)
