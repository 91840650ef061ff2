"""GHL's app events loaded on their own: what the task does with what crossed the broker."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.ghl_app import (
    AppWebhookEvent,
    app_event_errors,
    load_app_event,
    load_timestamp,
)

PAYLOAD: dict[str, Any] = {
    "type": "UNINSTALL",
    "appId": "app_1",
    "companyId": "comp_1",
    "timestamp": "2026-03-02T12:00:00.000Z",
    "webhookId": "wh-1",
}


def test_what_crossed_the_broker_loads_to_the_same_event() -> None:
    event = load_app_event(PAYLOAD)
    again = load_app_event(json.loads(json.dumps(event.raw)))
    assert again == event
    assert again.raw == PAYLOAD
    assert isinstance(again, AppWebhookEvent)
    assert again.timestamp == dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def test_the_timestamp_is_not_judged_for_age_here() -> None:
    # Staleness is the receiver's check; a task may run an hour after the delivery.
    old = {**PAYLOAD, "timestamp": "2001-01-01T00:00:00Z"}
    assert load_app_event(old).timestamp.year == 2001


def test_a_time_without_an_offset_is_utc() -> None:
    assert load_timestamp({"timestamp": "2026-03-02T12:00:00"}).tzinfo == dt.UTC


def test_a_time_with_no_utc_form_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        load_app_event({**PAYLOAD, "timestamp": "9999-12-31T23:00:00-05:00"})
    assert "timestamp" in app_event_errors(caught.value)


def test_errors_are_flattened_by_ghls_field_path() -> None:
    with pytest.raises(ValidationError) as caught:
        load_app_event({**PAYLOAD, "locationIds": ["ok", ""], "webhookId": None})
    errors = app_event_errors(caught.value)
    assert set(errors) == {"locationIds.1", "webhookId"}


def test_an_uninstall_names_a_location_or_a_company() -> None:
    with pytest.raises(ValidationError) as caught:
        load_app_event({key: value for key, value in PAYLOAD.items() if key != "companyId"})
    assert app_event_errors(caught.value) == {
        "locationId": ["UNINSTALL names a locationId, locationIds or a companyId."]
    }


def test_the_raw_payload_is_a_copy_and_the_event_repr_leaves_it_out() -> None:
    payload = dict(PAYLOAD)
    event = load_app_event(payload)
    payload["type"] = "changed"
    assert event.raw["type"] == "UNINSTALL"
    assert "raw" not in repr(event)
