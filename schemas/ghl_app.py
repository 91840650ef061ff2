"""HighLevel's marketplace-app events (INSTALL, UNINSTALL, …), loaded into a frozen dataclass.

    {"type": "INSTALL", "appId": "…", "locationId": "…", "companyId": "…", "userId": "…",
     "installType": "Location", "companyName": "…", "timestamp": "2026-…Z", "webhookId": "…"}

The fields are those of GHL's AppInstall / AppUninstall docs. What GHL leaves out matters:
a location-level UNINSTALL carries no `companyId`, an agency-level one no `locationId`, an
install through "future locations" may carry no `userId` or `companyId`, and a bulk install
names its locations in `locationIds` instead of `locationId`. So of the ids only `appId` is
required, and INSTALL/UNINSTALL must name a location or a company.

A payload from GHL, so `unknown=EXCLUDE`: a field GHL adds tomorrow never breaks a delivery,
and the event keeps the object exactly as GHL sent it in `raw`. Types other than INSTALL and
UNINSTALL load too (their `type` is kept), so the receiver can answer them `200 ignored`
instead of making GHL retry something we will never handle.

`load_app_event` is used twice, as `schemas.events.load_event` is: by the receiver on the
verified body (`ghl.app_webhooks.verify_app_webhook`), and by the task on `event.raw`, which is
what crosses the broker. It raises `marshmallow.ValidationError`; `app_event_errors` gives its
messages by dotted path (`{"locationId": ["…"]}`), the form of our 422 answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from schemas.base import ID, text_errors
from schemas.events import flatten_errors

INSTALL = "INSTALL"
UNINSTALL = "UNINSTALL"
APP_EVENT_TYPES = (INSTALL, UNINSTALL)
"""The types socialbridge acts on; any other loads, and is answered as ignored."""

MAX_TYPE_CHARS = 100
MAX_NAME_CHARS = 500
MAX_BULK_LOCATIONS = 10_000
"""Most `locationIds` one bulk install may name: far more than an agency has, and a bound on
what one delivery can make the workers do."""


@dataclass(frozen=True)
class AppWebhookEvent:
    """One app event from GHL, as verified and validated.

    `location_id` is None for an agency (Company) install or uninstall; `location_ids` holds
    the locations of a bulk install (empty otherwise). `raw` is the payload exactly as GHL
    sent it: the JSON that crosses the broker, loaded again by the task.
    """

    type: str
    webhook_id: str
    timestamp: dt.datetime
    app_id: str | None
    location_id: str | None
    company_id: str | None
    install_type: str | None
    user_id: str | None
    company_name: str | None
    location_ids: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def handled(self) -> bool:
        """INSTALL or UNINSTALL: a type socialbridge acts on."""
        return self.type in APP_EVENT_TYPES


def within_utc_range(value: dt.datetime) -> None:
    """Refuse a time with no UTC form (9999-12-31T23:00:00-05:00 is in the year 10000)."""
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(
            "Out of range: in UTC it must fall between years 1 and 9999."
        ) from None


def timestamp_field() -> fields.AwareDateTime:
    """`timestamp`: when GHL sent the event; ISO 8601, UTC when it names no offset."""
    return fields.AwareDateTime(required=True, default_timezone=dt.UTC, validate=within_utc_range)


class TimestampSchema(Schema):
    """Only the `timestamp` of an app event: read before the rest, to refuse a stale one."""

    class Meta:
        unknown = EXCLUDE

    timestamp = timestamp_field()


class AppWebhookEventSchema(Schema):
    """GHL's app event -> AppWebhookEvent (field names are GHL's, via `data_key`)."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TYPE_CHARS))
    webhook_id = fields.String(required=True, data_key="webhookId", validate=ID)
    timestamp = timestamp_field()
    app_id = fields.String(load_default=None, data_key="appId", validate=ID)
    location_id = fields.String(load_default=None, data_key="locationId", validate=ID)
    location_ids = fields.List(
        fields.String(validate=ID),
        load_default=(),
        data_key="locationIds",
        validate=validate.Length(
            max=MAX_BULK_LOCATIONS, error="A bulk install names at most {max} locations."
        ),
    )
    company_id = fields.String(load_default=None, data_key="companyId", validate=ID)
    install_type = fields.String(
        load_default=None, data_key="installType", validate=validate.Length(max=MAX_TYPE_CHARS)
    )
    user_id = fields.String(load_default=None, data_key="userId", validate=ID)
    company_name = fields.String(
        load_default=None, data_key="companyName", validate=validate.Length(max=MAX_NAME_CHARS)
    )

    @pre_load
    def _refuse_unsafe_text(self, data: Any, **_: Any) -> Any:
        # `raw` is stored as it came: NUL or a lone surrogate anywhere in it would make the
        # store (PostgreSQL) or a log line fail later, far from the cause.
        if isinstance(data, Mapping):
            errors = text_errors(data)
            if errors:
                raise ValidationError(errors)
        return data

    @validates_schema
    def _names_whom(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") not in APP_EVENT_TYPES:
            return
        if data.get("app_id") is None:
            raise ValidationError(f"{data['type']} names the app it concerns.", "appId")
        if not (data.get("location_id") or data.get("location_ids") or data.get("company_id")):
            raise ValidationError(
                f"{data['type']} names a locationId, locationIds or a companyId.", "locationId"
            )

    @post_load(pass_original=True)
    def _make(
        self, data: dict[str, Any], original_data: Mapping[str, Any], **_: Any
    ) -> AppWebhookEvent:
        data["location_ids"] = tuple(dict.fromkeys(data["location_ids"]))
        return AppWebhookEvent(**data, raw=dict(original_data))


def load_app_event(payload: Any) -> AppWebhookEvent:
    """Validate a decoded app event; ValidationError naming GHL's field when it does not fit."""
    if not isinstance(payload, Mapping):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    event: AppWebhookEvent = AppWebhookEventSchema().load(payload)
    return event


def load_timestamp(payload: Any) -> dt.datetime:
    """The aware `timestamp` of a decoded app event alone; ValidationError when it has none."""
    if not isinstance(payload, Mapping):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    loaded: dict[str, dt.datetime] = TimestampSchema().load(payload)
    return loaded["timestamp"]


def app_event_errors(exc: ValidationError) -> dict[str, list[str]]:
    """The messages of a ValidationError from this module, by dotted path of GHL's field."""
    return flatten_errors(exc.messages)
