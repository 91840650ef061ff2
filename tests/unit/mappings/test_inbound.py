"""map_inbound and MappedEvent.explain: a CRM's body through the issue's example mapping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from marshmallow import ValidationError

from mappings import InboundMappingError, MappedEvent, load_mapping, map_inbound
from schemas.events import (
    PostPublished,
    StatisticsRequested,
    TagDetailsRequested,
    flatten_errors,
    load_event,
)
from tests.unit.mappings.conftest import ISSUE_EXAMPLE, yaml_text

RECEIVED = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)
MAPPING = load_mapping(ISSUE_EXAMPLE)


def mapped(body: Any, mapping_text: str | None = None) -> MappedEvent:
    mapping = MAPPING if mapping_text is None else load_mapping(yaml_text(mapping_text))
    return map_inbound(mapping, body, received_at=RECEIVED)


def refused(body: Any, mapping_text: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(InboundMappingError) as caught:
        mapped(body, mapping_text)
    return caught.value.errors


# --- the issue's example, one body per event type -----------------------------------------


def test_a_published_post() -> None:
    body = {
        "event": "social_post_published",
        "delivery": {"id": "dlv_1"},
        "post": {"id": "crm-1", "ghl_id": "ghl-9", "tags": [{"id": "t1"}], "title": "ignored"},
        "contact": {"id": "Contact.1.31"},
    }
    result = mapped(body)

    assert result.envelope == {
        "type": "post.published",
        "timestamp": "2026-11-23T10:00:05+00:00",
        # tag_ids is not a field of post.published: ignored, not an error.
        "data": {
            "post_id": "crm-1",
            "ghl_post_id": "ghl-9",
            "record": {"contact_id": "Contact.1.31"},
        },
    }
    assert result.delivery_id == "dlv_1"
    assert dict(result.sources) == {
        "type": "$.event",
        "id": "$.delivery.id",
        "data.post_id": "$.post.id",
        "data.ghl_post_id": "$.post.ghl_id",
        "data.record.contact_id": "$.contact.id",
    }
    event = load_event(result.envelope)
    assert event.timestamp == RECEIVED
    assert event.data == PostPublished(
        post_id="crm-1", ghl_post_id="ghl-9", record={"contact_id": "Contact.1.31"}
    )


def test_a_tag_details_request() -> None:
    body = {
        "event": "tag_info",
        "delivery": {"id": 7},
        "post": {"id": "crm-1", "tags": [{"id": "t1"}, {"id": "t2"}]},
        "contact": {"id": 31},
    }
    result = mapped(body)

    assert result.envelope["type"] == "tag.details_requested"
    assert result.envelope["data"] == {
        "post_id": "crm-1",
        "tag_ids": ["t1", "t2"],
        # A record is text to text: the number 31 is written as "31".
        "record": {"contact_id": "31"},
    }
    assert result.delivery_id == "7"
    event = load_event(result.envelope)
    assert event.data == TagDetailsRequested(
        post_id="crm-1", tag_ids=("t1", "t2"), record={"contact_id": "31"}
    )


def test_a_statistics_request() -> None:
    body = {"event": "stats", "delivery": {"id": "dlv_3"}, "contact": {"id": "Contact.1.2"}}
    result = mapped(body)

    assert result.envelope == {
        "type": "statistics.requested",
        "timestamp": "2026-11-23T10:00:05+00:00",
        "data": {"record": {"contact_id": "Contact.1.2"}},
    }
    assert load_event(result.envelope).data == StatisticsRequested(
        record={"contact_id": "Contact.1.2"}
    )


def test_a_tag_list_of_one_is_still_a_list() -> None:
    body = {"event": "tag_info", "post": {"id": "p", "tags": [{"id": "only"}]}}
    assert mapped(body).envelope["data"]["tag_ids"] == ["only"]


def test_selectors_that_match_nothing_leave_their_fields_out() -> None:
    result = mapped({"event": "social_post_published", "post": {"id": "p"}})
    assert result.envelope["data"] == {"post_id": "p"}
    assert result.delivery_id is None
    # Still named: an error about a missing field can say where it was looked for.
    assert result.sources["data.ghl_post_id"] == "$.post.ghl_id"
    assert result.sources["data.record.contact_id"] == "$.contact.id"
    assert "data.tag_ids" not in result.sources  # not a field of post.published


def test_an_event_type_not_in_the_map_passes_unchanged() -> None:
    result = mapped({"event": "post.published", "post": {"id": "p"}})
    assert result.envelope["type"] == "post.published"


# --- what the mapping cannot make ---------------------------------------------------------


def test_no_event_type_is_an_error_naming_the_selector() -> None:
    assert refused({"post": {"id": "p"}}) == {"type": ["Nothing was found. (mapped from $.event)"]}


def test_an_unknown_event_type_is_an_error_naming_the_selector() -> None:
    assert refused({"event": "contact_deleted"}) == {
        "type": [
            "'contact_deleted' is not an event type; expected one of: post.published, "
            "tag.details_requested, statistics.requested. (mapped from $.event)"
        ]
    }


def test_a_body_that_is_not_an_object_has_no_event_type() -> None:
    assert refused(["event"]) == {"type": ["Nothing was found. (mapped from $.event)"]}


def test_a_mapping_without_an_inbound_part_cannot_read_a_body() -> None:
    mapping = load_mapping("version: 1\n")
    with pytest.raises(InboundMappingError) as caught:
        map_inbound(mapping, {"event": "x"}, received_at=RECEIVED)
    assert caught.value.errors == {
        "_body": ["The connection's mapping has no inbound part: it cannot read this body."]
    }


def test_check_failures_are_keyed_by_event_path_and_name_the_selector() -> None:
    text = """
        version: 1
        inbound:
          type: {value: post.published}
          fields:
            post_id: {path: $.post.id, required: true}
            title: {path: $.post.title, max_len: 5}
            record.contact_id: {path: $.contact, type: string}
        """
    errors = refused({"post": {"title": "far too long"}, "contact": {"id": 1}}, text)
    assert errors == {
        "data.post_id": ["required, but nothing was found (mapped from $.post.id)"],
        "data.title": ["max_len: 12 characters, at most 5 allowed (mapped from $.post.title)"],
        "data.record.contact_id": [
            "type string: got an object (join it first) (mapped from $.contact)"
        ],
    }


def test_a_record_value_must_be_plain() -> None:
    text = """
        version: 1
        inbound:
          type: {value: post.published}
          fields:
            post_id: $.id
            record.contact_id: $.contact
        """
    assert refused({"id": "p", "contact": ["a"]}, text) == {
        "data.record.contact_id": [
            "A record value is text or a number, not a list. (mapped from $.contact)"
        ]
    }
    # A null record value is left out, like a missing one.
    assert mapped({"id": "p", "contact": None}, text).envelope["data"] == {"post_id": "p"}


def test_a_template_failure_is_an_error_of_its_field() -> None:
    text = """
        version: 1
        inbound:
          type: {value: post.published}
          fields:
            post_id: {template: "{{ post.id }}"}
        """
    assert refused({"post": {}}, text) == {
        "data.post_id": ["template: 'dict object' has no attribute 'id' (mapped from template)"]
    }


def test_fields_the_event_type_does_not_have_are_not_even_evaluated() -> None:
    text = """
        version: 1
        inbound:
          type: $.type
          fields:
            post_id: {path: $.post_id, required: true}
            start_date: {path: $.from, required: true}
        """
    # statistics.requested has no post_id, post.published no start_date: neither is required.
    assert mapped({"type": "statistics.requested", "from": "2026-01-01"}, text).envelope[
        "data"
    ] == {"start_date": "2026-01-01"}
    assert mapped({"type": "post.published", "post_id": "p"}, text).envelope["data"] == {
        "post_id": "p"
    }


@pytest.mark.parametrize(
    ("delivery", "message"),
    [
        ({"id": True}, "A delivery id is text or a number, not a boolean."),
        ({"id": {"a": 1}}, "A delivery id is text or a number, not an object."),
        ({"id": ["a"]}, "A delivery id is text or a number, not a list."),
    ],
)
def test_a_delivery_id_must_be_text_or_a_number(delivery: dict[str, Any], message: str) -> None:
    body = {"event": "stats", "delivery": delivery}
    assert refused(body) == {"id": [f"{message} (mapped from $.delivery.id)"]}


@pytest.mark.parametrize(("given", "expected"), [("", None), (None, None), (12.5, "12.5")])
def test_an_empty_delivery_id_is_no_id(given: Any, expected: str | None) -> None:
    assert mapped({"event": "stats", "delivery": {"id": given}}).delivery_id == expected


# --- timestamp ----------------------------------------------------------------------------


def test_a_mapped_timestamp_replaces_the_time_of_receipt() -> None:
    text = """
        version: 1
        inbound:
          type: {value: statistics.requested}
          fields:
            timestamp: {path: $.sent, date: {from: "%d/%m/%Y %H:%M"}}
        """
    result = mapped({"sent": "23/11/2026 09:30"}, text)
    assert result.envelope["timestamp"] == "2026-11-23T09:30:00"
    assert result.sources["timestamp"] == "$.sent"
    assert load_event(result.envelope).timestamp == dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    # Not in the body: the time of receipt, and no source.
    fallback = mapped({}, text)
    assert fallback.envelope["timestamp"] == RECEIVED.isoformat()
    assert "timestamp" not in fallback.sources


# --- explain ------------------------------------------------------------------------------


def validation_errors(envelope: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        load_event(envelope)
    return flatten_errors(caught.value.messages)


def test_explain_names_the_jsonpath_of_each_invalid_field() -> None:
    body = {"event": "tag_info", "post": {"id": "p", "tags": [{"id": 5}, {"id": "ok"}]}}
    result = mapped(body)
    errors = validation_errors(result.envelope)

    assert result.explain(errors) == {
        "data.tag_ids.0": ["Not a valid string. (mapped from $.post.tags[*].id)"]
    }


def test_explain_names_where_a_missing_field_was_looked_for() -> None:
    result = mapped({"event": "tag_info", "post": {"id": "p", "tags": []}})
    errors = validation_errors(result.envelope)
    assert errors == {"data.tag_ids": ["Missing data for required field."]}
    assert result.explain(errors) == {
        "data.tag_ids": ["Missing data for required field. (mapped from $.post.tags[*].id)"]
    }


def test_explain_leaves_errors_of_unmapped_fields_as_they_are() -> None:
    text = """
        version: 1
        inbound:
          type: {value: tag.details_requested}
          fields:
            post_id: $.id
        """
    result = mapped({"id": "p"}, text)
    errors = validation_errors(result.envelope)
    assert errors == {"data.tag_ids": ["Missing data for required field."]}
    assert result.explain(errors) == errors


def test_explain_uses_the_longest_mapped_prefix_at_a_dot() -> None:
    result = MappedEvent(
        envelope={},
        delivery_id=None,
        sources={"data.record.contact_id": "$.contact.id", "data.post_id": "$.post.id"},
    )
    assert result.explain(
        {
            "data.record.contact_id.value": ["Too long."],
            "data.record": ["Too many keys."],
            "data.post_idx": ["Unknown field."],
            "data.post_id": ["Bad.", "Worse."],
        }
    ) == {
        "data.record.contact_id.value": ["Too long. (mapped from $.contact.id)"],
        "data.record": ["Too many keys."],
        "data.post_idx": ["Unknown field."],
        "data.post_id": ["Bad. (mapped from $.post.id)", "Worse. (mapped from $.post.id)"],
    }


def test_explain_names_value_and_template_sources() -> None:
    text = """
        version: 1
        inbound:
          type: {value: post.published}
          fields:
            post_id: {value: ""}
            title: {template: "{{ 'x' * 600 }}"}
        """
    result = mapped({}, text)
    errors = result.explain(validation_errors(result.envelope))
    assert errors["data.post_id"] == ["Length must be between 1 and 200. (mapped from value)"]
    assert errors["data.title"] == ["Longer than maximum length 500. (mapped from template)"]
