"""Inbound CRM events: the body of `POST /webhooks/crm/<connection_id>`.

    {"type": "post.published", "timestamp": "2026-11-23T10:00:00Z", "data": {...}}

Our own API, so unknown fields are refused (`unknown=RAISE`): a typo in a CRM's payload is
answered with a 422 naming the field instead of being dropped silently. `load_event` is used
twice: by the receiver on the raw JSON, and by the task on what crossed the broker, so a
worker never trusts a payload it did not validate itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from schemas.base import ID, StrictSchema, record_field

STATISTICS_MAX_DAYS = 3660
"""Longest statistics range asked of GHL (about ten years): a longer one is refused on arrival
rather than accepted and then refused by GHL."""

POST_PUBLISHED = "post.published"
TAG_DETAILS_REQUESTED = "tag.details_requested"
STATISTICS_REQUESTED = "statistics.requested"
EVENT_TYPES = (POST_PUBLISHED, TAG_DETAILS_REQUESTED, STATISTICS_REQUESTED)

# The platforms GHL's statistics endpoint accepts (social-media-posting.json, statistics body).
STATISTICS_PLATFORMS = (
    "facebook",
    "instagram",
    "linkedin",
    "google",
    "pinterest",
    "youtube",
    "tiktok",
)


@dataclass(frozen=True)
class PostPublished:
    post_id: str
    location_id: str | None = None
    ghl_post_id: str | None = None
    published_at: dt.datetime | None = None
    title: str | None = None
    record: Mapping[str, str] | None = None


@dataclass(frozen=True)
class TagDetailsRequested:
    post_id: str
    tag_ids: tuple[str, ...]
    location_id: str | None = None
    record: Mapping[str, str] | None = None


@dataclass(frozen=True)
class StatisticsRequested:
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    profile_ids: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    record: Mapping[str, str] | None = None

    @property
    def date_range(self) -> tuple[dt.date, dt.date] | None:
        if self.start_date is None or self.end_date is None:
            return None
        return (self.start_date, self.end_date)


EventData = PostPublished | TagDetailsRequested | StatisticsRequested


@dataclass(frozen=True)
class CrmEvent:
    type: str
    timestamp: dt.datetime
    data: EventData


def _within_utc_range(value: dt.datetime) -> None:
    """Refuse a time whose UTC form has no datetime (9999-12-31T23:00:00-05:00 is year 10000).

    The event is stored with its timestamp in UTC; without this check such a value would pass
    validation and then raise OverflowError while being stored.
    """
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(
            "Out of range: in UTC it must fall between years 1 and 9999."
        ) from None


class PostPublishedSchema(StrictSchema):
    post_id = fields.String(required=True, validate=ID)
    location_id = fields.String(load_default=None, validate=ID)
    ghl_post_id = fields.String(load_default=None, validate=ID)
    published_at = fields.AwareDateTime(
        load_default=None, default_timezone=dt.UTC, validate=_within_utc_range
    )
    title = fields.String(load_default=None, validate=validate.Length(max=500))
    record = record_field()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> PostPublished:
        return PostPublished(**data)


class TagDetailsRequestedSchema(StrictSchema):
    post_id = fields.String(required=True, validate=ID)
    tag_ids = fields.List(
        fields.String(validate=ID),
        required=True,
        validate=validate.Length(min=1, max=500, error="Give between {min} and {max} tag ids."),
    )
    location_id = fields.String(load_default=None, validate=ID)
    record = record_field()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> TagDetailsRequested:
        # Keep the CRM's order but ask GHL for each tag once.
        data["tag_ids"] = tuple(dict.fromkeys(data["tag_ids"]))
        return TagDetailsRequested(**data)


class StatisticsRequestedSchema(StrictSchema):
    start_date = fields.Date(load_default=None)
    end_date = fields.Date(load_default=None)
    profile_ids = fields.List(
        fields.String(validate=ID), load_default=None, validate=validate.Length(min=1)
    )
    platforms = fields.List(
        fields.String(validate=validate.OneOf(STATISTICS_PLATFORMS)),
        load_default=None,
        validate=validate.Length(min=1),
    )
    record = record_field()

    @validates_schema
    def _check_range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start_date"), data.get("end_date")
        if (start is None) != (end is None):
            missing = "end_date" if end is None else "start_date"
            raise ValidationError("Give start_date and end_date together.", missing)
        if start is not None and end is not None and start > end:
            raise ValidationError("end_date must not be before start_date.", "end_date")
        if start is not None and end is not None and (end - start).days >= STATISTICS_MAX_DAYS:
            raise ValidationError(
                f"A range spans at most {STATISTICS_MAX_DAYS} days (start and end included).",
                "end_date",
            )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> StatisticsRequested:
        for key in ("profile_ids", "platforms"):
            if data[key] is not None:
                data[key] = tuple(dict.fromkeys(data[key]))
        return StatisticsRequested(**data)


DATA_SCHEMAS: dict[str, type[Schema]] = {
    POST_PUBLISHED: PostPublishedSchema,
    TAG_DETAILS_REQUESTED: TagDetailsRequestedSchema,
    STATISTICS_REQUESTED: StatisticsRequestedSchema,
}


class EnvelopeSchema(StrictSchema):
    type = fields.String(
        required=True,
        validate=validate.OneOf(
            EVENT_TYPES, error="Unknown event type; expected one of: {choices}."
        ),
    )
    timestamp = fields.AwareDateTime(
        required=True, default_timezone=dt.UTC, validate=_within_utc_range
    )
    data = fields.Dict(required=True)


# One instance of each, shared by every request and task thread. Building a Schema deep-copies
# each declared field: per delivery that was the largest single item of the receiver's profile
# (docs/benchmarks.md). Sharing is safe: marshmallow 4 keeps no per-call state on the instance
# (no `context`), and nothing here mutates a schema after import.
_ENVELOPE = EnvelopeSchema()
_DATA: dict[str, Schema] = {event_type: cls() for event_type, cls in DATA_SCHEMAS.items()}


def load_event(payload: Any) -> CrmEvent:
    """Validate a decoded JSON body; raise ValidationError with dotted field paths."""
    if not isinstance(payload, Mapping):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    envelope = _ENVELOPE.load(payload)
    try:
        data = _DATA[envelope["type"]].load(envelope["data"])
    except ValidationError as exc:
        raise ValidationError(_prefixed("data", exc.messages)) from None
    return CrmEvent(type=envelope["type"], timestamp=envelope["timestamp"], data=data)


def dump_event(event: CrmEvent) -> dict[str, Any]:
    """The JSON form of a validated event (what is stored and what crosses the broker)."""
    dumped = _DATA[event.type].dump(event.data)
    data = {key: value for key, value in dumped.items() if value is not None}
    return {
        "type": event.type,
        "timestamp": event.timestamp.astimezone(dt.UTC).isoformat(),
        "data": data,
    }


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"data.tag_ids.0": ["…"]}: one line says where."""
    if isinstance(messages, list):
        return {prefix or "_body": [str(message) for message in messages]}
    if isinstance(messages, str):
        return {prefix or "_body": [messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = "_body" if key == "_schema" and not prefix else str(key)
        path = f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name)
        for sub_path, sub_messages in flatten_errors(value, path).items():
            flat.setdefault(sub_path, []).extend(sub_messages)
    return flat


def _prefixed(prefix: str, messages: Any) -> dict[str, Any]:
    return {prefix: messages}
