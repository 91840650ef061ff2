"""Write-backs: what socialbridge POSTs to a CRM once a flow has its results from GHL.

    {"type": "post.tags_synced", "timestamp": "2026-11-23T10:00:05Z", "data": {...}}

Three types, one schema each (`WRITEBACK_SCHEMAS`):

- ``post.tags_synced``: the location's tags, and the post's own tags when the GHL post is
  known (``ghl_post_id`` null and ``post_tags`` empty otherwise); ``tags_fetched_at`` says
  when GHL was asked for the location's tags (they may come from the tag cache, never older
  than ``TAG_CACHE_TTL``). Every write-back socialbridge sends has it; one without it (sent
  before it existed) loads with None, and dumps without the key.
- ``post.tag_details_attached``: the full tag objects, exactly as GHL sent them, and the ids
  GHL did not know (``missing_tag_ids``, empty when every tag was found).
- ``location.statistics_synced``: a statistics snapshot of the location for the date range
  asked (or GHL's default, the last 7 days), numbers as GHL sent them (ints stay ints).

Our own format, so unknown fields are refused (``unknown=RAISE``). The same schemas serve
both ends: `dump_writeback` validates what a flow is about to send, and `load_writeback`
validates what a CRM (the sandbox CRM) received.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from schemas.base import ID, StrictSchema, record_field

TAGS_SYNCED = "post.tags_synced"
TAG_DETAILS_ATTACHED = "post.tag_details_attached"
STATISTICS_SYNCED = "location.statistics_synced"
WRITEBACK_TYPES = (TAGS_SYNCED, TAG_DETAILS_ATTACHED, STATISTICS_SYNCED)

_NAME = validate.Length(min=1, max=200)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagRef:
    """A tag as the CRM sees it on a post record: GHL's id and its name."""

    id: str
    name: str


@dataclass(frozen=True)
class TagsSynced:
    post_id: str
    location_id: str
    tags: tuple[TagRef, ...]
    synced_at: dt.datetime
    ghl_post_id: str | None = None
    post_tags: tuple[TagRef, ...] = ()
    tags_fetched_at: dt.datetime | None = None
    record: Mapping[str, str] | None = None


@dataclass(frozen=True)
class TagDetailsAttached:
    post_id: str
    location_id: str
    tag_ids: tuple[str, ...]
    tags: tuple[Mapping[str, Any], ...]
    synced_at: dt.datetime
    missing_tag_ids: tuple[str, ...] = ()
    record: Mapping[str, str] | None = None


@dataclass(frozen=True)
class StatisticsSynced:
    location_id: str
    start_date: dt.date
    end_date: dt.date
    profile_ids: tuple[str, ...]
    totals: Mapping[str, float]
    platforms: Mapping[str, Mapping[str, float]]
    daily: Mapping[str, list[Any]]
    synced_at: dt.datetime
    record: Mapping[str, str] | None = None


WritebackData = TagsSynced | TagDetailsAttached | StatisticsSynced


@dataclass(frozen=True)
class WritebackEnvelope:
    """A whole write-back as a CRM receives it."""

    type: str
    timestamp: dt.datetime
    data: WritebackData


# --- fields -------------------------------------------------------------------------------


class UtcDateTime(fields.AwareDateTime):
    """An ISO-8601 instant, written in UTC with a "Z"; naive input is taken as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=dt.UTC, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return _iso_utc(value)


class IsoDate(fields.Date):
    """A calendar day, "YYYY-MM-DD"; a datetime is refused rather than silently truncated."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class JsonNumber(fields.Field[float]):
    """A finite JSON number kept as it came (an int stays an int); booleans are refused."""

    default_error_messages = {"invalid": "Not a valid number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("invalid")
        return value


class DailySeries(fields.Field[dict[str, list[Any]]]):
    """``{"day_range": [day, ...], metric: [number per day], ...}``.

    Every metric list has one number per entry of ``day_range``, so a CRM can chart them
    without guessing which day a value belongs to.
    """

    default_error_messages = {"invalid": "Not a valid mapping type."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, list[Any]]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        errors: dict[str, Any] = {}
        days = value.get("day_range")
        if days is None:
            errors["day_range"] = ["Missing data for required field."]
        elif not isinstance(days, list) or not all(isinstance(day, str) for day in days):
            errors["day_range"] = ["Expected a list of day labels (strings)."]
        result: dict[str, list[Any]] = {"day_range": list(days) if isinstance(days, list) else []}
        number = JsonNumber()
        for metric, series in value.items():
            if metric == "day_range":
                continue
            if not isinstance(metric, str) or not metric:
                errors[str(metric)] = ["Metric names must be non-empty strings."]
                continue
            if not isinstance(series, list):
                errors[metric] = ["Expected a list of numbers, one per day of day_range."]
                continue
            item_errors: dict[int, list[str]] = {}
            for index, item in enumerate(series):
                try:
                    number.deserialize(item)
                except ValidationError as exc:
                    item_errors[index] = list(exc.messages)
            if item_errors:
                errors[metric] = item_errors
            elif "day_range" not in errors and len(series) != len(result["day_range"]):
                errors[metric] = [
                    f"Expected one number per day of day_range ({len(result['day_range'])}); "
                    f"got {len(series)}."
                ]
            result[metric] = list(series)
        if errors:
            raise ValidationError(errors)
        return result


def _numbers() -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=_NAME), values=JsonNumber(), required=True)


# --- schemas ------------------------------------------------------------------------------


class TagRefSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(max=500))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> TagRef:
        return TagRef(**data)


class TagsSyncedSchema(StrictSchema):
    post_id = fields.String(required=True, validate=ID)
    location_id = fields.String(required=True, validate=ID)
    ghl_post_id = fields.String(load_default=None, allow_none=True, validate=ID)
    tags = fields.List(fields.Nested(TagRefSchema), required=True)
    post_tags = fields.List(fields.Nested(TagRefSchema), load_default=list)
    # When GHL was asked for `tags` (the listing's start), cached or not; left out when unknown.
    tags_fetched_at = UtcDateTime(load_default=None)
    synced_at = UtcDateTime(required=True)
    # The event's data.record, echoed; left out when the event named none.
    record = record_field()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> TagsSynced:
        data["tags"] = tuple(data["tags"])
        data["post_tags"] = tuple(data["post_tags"])
        return TagsSynced(**data)


class TagDetailsAttachedSchema(StrictSchema):
    post_id = fields.String(required=True, validate=ID)
    location_id = fields.String(required=True, validate=ID)
    tag_ids = fields.List(
        fields.String(validate=ID),
        required=True,
        validate=validate.Length(min=1, error="Give at least {min} tag id."),
    )
    # Tag objects are GHL's, passed on as GHL sent them: only their being objects is ours.
    tags = fields.List(fields.Dict(keys=fields.String()), required=True)
    # Always written (empty when GHL knew every id); a write-back without it reads as empty.
    missing_tag_ids = fields.List(fields.String(validate=ID), load_default=list)
    synced_at = UtcDateTime(required=True)
    # The event's data.record, echoed; left out when the event named none.
    record = record_field()

    @validates_schema
    def _check_missing(self, data: dict[str, Any], **_: Any) -> None:
        asked = set(data.get("tag_ids") or ())
        strays = [tag_id for tag_id in data.get("missing_tag_ids") or () if tag_id not in asked]
        if asked and strays:
            raise ValidationError(
                f"Every missing tag id must be one of tag_ids; not asked for: {strays}.",
                "missing_tag_ids",
            )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> TagDetailsAttached:
        data["tag_ids"] = tuple(data["tag_ids"])
        data["tags"] = tuple(data["tags"])
        data["missing_tag_ids"] = tuple(data["missing_tag_ids"])
        return TagDetailsAttached(**data)


class StatisticsSyncedSchema(StrictSchema):
    location_id = fields.String(required=True, validate=ID)
    start_date = IsoDate(required=True)
    end_date = IsoDate(required=True)
    profile_ids = fields.List(fields.String(validate=ID), required=True)
    totals = _numbers()
    platforms = fields.Dict(
        keys=fields.String(validate=_NAME),
        values=fields.Dict(keys=fields.String(validate=_NAME), values=JsonNumber()),
        required=True,
    )
    daily = DailySeries(required=True)
    synced_at = UtcDateTime(required=True)
    # The event's data.record, echoed; left out when the event named none.
    record = record_field()

    @validates_schema
    def _check_range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start_date"), data.get("end_date")
        if start is not None and end is not None and start > end:
            raise ValidationError("end_date must not be before start_date.", "end_date")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> StatisticsSynced:
        data["profile_ids"] = tuple(data["profile_ids"])
        return StatisticsSynced(**data)


WRITEBACK_SCHEMAS: dict[str, Schema] = {
    TAGS_SYNCED: TagsSyncedSchema(),
    TAG_DETAILS_ATTACHED: TagDetailsAttachedSchema(),
    STATISTICS_SYNCED: StatisticsSyncedSchema(),
}
"""The data schema of each write-back type (instances: they hold no per-call state)."""


class _WritebackDataField(fields.Field[WritebackData]):
    """The envelope's ``data``, validated by the schema its sibling ``type`` names."""

    default_error_messages = {"invalid": "Not a valid mapping type."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> WritebackData:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        kind = data.get("type") if isinstance(data, Mapping) else None
        schema = WRITEBACK_SCHEMAS.get(kind) if isinstance(kind, str) else None
        if schema is None:
            # The `type` field reports the unknown type and the load fails on it; repeating
            # the complaint here would only add noise.
            return cast(WritebackData, value)
        loaded: WritebackData = schema.load(value)
        return loaded


class WritebackEnvelopeSchema(StrictSchema):
    type = fields.String(
        required=True,
        validate=validate.OneOf(
            WRITEBACK_TYPES, error="Unknown write-back type; expected one of: {choices}."
        ),
    )
    timestamp = UtcDateTime(required=True)
    data = _WritebackDataField(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> WritebackEnvelope:
        return WritebackEnvelope(**data)


_ENVELOPE = WritebackEnvelopeSchema()


# --- functions ----------------------------------------------------------------------------


def dump_writeback(
    type: str,
    data: Mapping[str, Any],
    *,
    timestamp: dt.datetime | None = None,
) -> dict[str, Any]:
    """Validate ``data`` for ``type`` and return the envelope to send, as JSON primitives.

    ``timestamp`` (default: now) is when the write-back is sent. ``data`` may hold strings
    or the Python values (datetime, date) the schemas load them into. Raises
    ``marshmallow.ValidationError`` whose messages name the field, e.g.
    ``{"tags": {0: {"id": ["Missing data for required field."]}}}``.
    """
    schema = WRITEBACK_SCHEMAS.get(type)
    if schema is None:
        expected = ", ".join(WRITEBACK_TYPES)
        raise ValidationError(
            {"type": [f"Unknown write-back type {type!r}; expected one of: {expected}."]}
        )
    sent_at = timestamp if timestamp is not None else dt.datetime.now(dt.UTC)
    dumped = _dump_tags_synced(data) if type == TAGS_SYNCED else None
    if dumped is None:
        dumped = _dump(schema, schema.load(data))
    return {"type": type, "timestamp": _iso_utc(sent_at), "data": dumped}


def load_writeback(payload: Any) -> WritebackEnvelope:
    """Validate a received, JSON-decoded write-back; errors of ``data`` are nested under it."""
    if not isinstance(payload, Mapping):
        raise ValidationError({"_schema": ["Expected a JSON object."]})
    known = _load_tags_synced(payload)
    if known is not None:
        return known
    envelope: WritebackEnvelope = _ENVELOPE.load(payload)
    return envelope


def writeback_json(envelope: WritebackEnvelope) -> dict[str, Any]:
    """The JSON form of a loaded write-back (what a CRM would store)."""
    data = envelope.data
    dumped = None
    if isinstance(data, TagsSynced):
        dumped = _dump_known_tags(data)
    if dumped is None:
        dumped = _dump(WRITEBACK_SCHEMAS[envelope.type], data)
    return {"type": envelope.type, "timestamp": _iso_utc(envelope.timestamp), "data": dumped}


# -- the location's tag list, validated once -----------------------------------------------

TAG_LISTS_REMEMBERED = 64
"""How many tag lists `dump_writeback` and `load_writeback` remember as valid (one or two per
location in use)."""

_TAG_REF = TagRefSchema()


def _dump_tags_synced(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``post.tags_synced`` whose ``tags`` list is valid, dumped; None when the list is not a
    plain list of ``{"id", "name"}`` strings, or not valid (the whole load then says why).

    Every post.published of a location sends the same list of hundreds of tags until it is
    listed again (workers/tag_cache.py); validating each tag through the schema was most of
    an event's CPU. A list is checked by the same schema (`TagRefSchema`) once, then known by
    its content: the other fields are validated on every call as before.
    """
    pairs = _tag_pairs(data.get("tags"))
    if pairs is None:
        return None
    try:
        dumped_tags = _checked_tags(pairs)
    except ValidationError:
        return None
    schema = WRITEBACK_SCHEMAS[TAGS_SYNCED]
    # Loaded without the list (the same checks of every other field), then dumped with it.
    dumped = _dump(schema, schema.load({**data, "tags": []}))
    dumped["tags"] = [dict(tag) for tag in dumped_tags]
    return dumped


def _tag_pairs(tags: Any) -> tuple[tuple[str, str], ...] | None:
    """``tags`` as (id, name) pairs when it is a list of dicts of exactly those two strings."""
    if not isinstance(tags, list | tuple):
        return None
    pairs = []
    for tag in tags:
        if type(tag) is not dict or len(tag) != 2:
            return None
        tag_id, name = tag.get("id"), tag.get("name")
        if type(tag_id) is not str or type(name) is not str:
            return None
        pairs.append((tag_id, name))
    return tuple(pairs)


@functools.lru_cache(maxsize=TAG_LISTS_REMEMBERED)
def _loaded_tags(pairs: tuple[tuple[str, str], ...]) -> tuple[TagRef, ...]:
    """The tags loaded by `TagRefSchema`; raises ValidationError (an exception is not
    remembered: an invalid list is checked again each time)."""
    loaded = _TAG_REF.load([{"id": tag_id, "name": name} for tag_id, name in pairs], many=True)
    return tuple(loaded)


@functools.lru_cache(maxsize=TAG_LISTS_REMEMBERED)
def _checked_tags(pairs: tuple[tuple[str, str], ...]) -> tuple[dict[str, Any], ...]:
    """The tags loaded (`_loaded_tags`) then dumped by `TagRefSchema`; raises ValidationError
    as `_loaded_tags` does."""
    return tuple(_TAG_REF.dump(_loaded_tags(pairs), many=True))


def _load_tags_synced(payload: Mapping[str, Any]) -> WritebackEnvelope | None:
    """A received ``post.tags_synced`` whose ``tags`` list is valid, loaded; None when it is
    another type, or its list is not a plain list of valid ``{"id", "name"}`` strings (the
    whole load then says why).

    The receiving side of `_dump_tags_synced`: a CRM (the sandbox CRM) gets the same list of
    hundreds of tags with every post.published of a location, and loading each tag through
    the schema cost it about 13 ms per write-back. The list is checked by `TagRefSchema` once
    per content (`_loaded_tags`); the envelope and every other field are loaded as before, so
    what is refused and the errors that say why are the same.
    """
    data = payload.get("data")
    if payload.get("type") != TAGS_SYNCED or not isinstance(data, Mapping):
        return None
    pairs = _tag_pairs(data.get("tags"))
    if pairs is None:
        return None
    try:
        tags = _loaded_tags(pairs)
    except ValidationError:
        return None
    # The same load without the list (its text is checked with it, by TagRefSchema), then
    # the loaded list put in.
    envelope: WritebackEnvelope = _ENVELOPE.load({**payload, "data": {**data, "tags": []}})
    loaded = cast(TagsSynced, envelope.data)
    return dataclasses.replace(envelope, data=dataclasses.replace(loaded, tags=tags))


def _dump_known_tags(data: TagsSynced) -> dict[str, Any] | None:
    """A loaded ``post.tags_synced`` dumped with its tag list from `_checked_tags` (the same
    `TagRefSchema` dump, once per list); None when the list is not a valid one."""
    try:
        dumped_tags = _checked_tags(tuple((tag.id, tag.name) for tag in data.tags))
    except ValidationError:
        return None
    dumped = _dump(WRITEBACK_SCHEMAS[TAGS_SYNCED], dataclasses.replace(data, tags=()))
    dumped["tags"] = [dict(tag) for tag in dumped_tags]
    return dumped


def _dump(schema: Schema, value: WritebackData) -> dict[str, Any]:
    dumped: dict[str, Any] = schema.dump(value)
    # Optional fields a write-back did not have stay out, rather than reading as null.
    for name in ("record", "tags_fetched_at"):
        if dumped.get(name) is None:
            dumped.pop(name, None)
    return dumped


def _iso_utc(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
