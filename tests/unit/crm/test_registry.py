"""The {kind: ConnectorKind} table: kinds, settings validation, building connectors."""

from __future__ import annotations

import base64

import httpx
import pytest
from standardwebhooks import Webhook

from crm.connector import InboundAuth, WriteBack
from crm.registry import (
    KIND_NAMES,
    KINDS,
    SettingsInvalid,
    build_connector,
    connector_kind,
    load_settings,
)
from crm.webhook import WebhookConnector
from schemas.writebacks import WRITEBACK_TYPES
from socialbridge.config import Settings
from socialbridge.errors import PermanentError

SECRET = "whsec_" + base64.b64encode(b"registry-test-secret-0123").decode()
URL = "https://crm.example/hooks/acme"


def tags_synced(record: dict[str, str] | None = None) -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key="wb-1",
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tags": [],
            "synced_at": "2026-11-23T10:00:00Z",
        },
        record=record or {},
    )


def test_every_kind_is_complete() -> None:
    assert tuple(KINDS) == KIND_NAMES
    assert {"webhook", "smartoffice"} <= set(KIND_NAMES)
    for name, entry in KINDS.items():
        assert entry.kind == name
        assert entry.title
        assert entry.capabilities.inbound_auth, name
        assert entry.capabilities.writebacks <= set(WRITEBACK_TYPES), name
        # Every generated setting is one the schema declares.
        assert set(entry.generated) <= set(entry.settings_schema._declared_fields), name


def test_the_webhook_kind_signs_and_takes_either_inbound_mode() -> None:
    entry = connector_kind("webhook")
    assert entry.capabilities.inbound_auth == (InboundAuth.SIGNATURE, InboundAuth.TOKEN)
    assert entry.capabilities.default_inbound_auth is InboundAuth.SIGNATURE
    assert entry.capabilities.outbound_fields == ()
    assert entry.secret_settings == {"secret"}


def test_load_settings_generates_what_the_kind_generates() -> None:
    settings = load_settings("webhook", {}, generate=True)
    assert str(settings["secret"]).startswith("whsec_")
    assert load_settings("webhook", {"secret": SECRET}) == {"secret": SECRET}


def test_load_settings_names_each_refused_setting() -> None:
    with pytest.raises(SettingsInvalid) as caught:
        load_settings("webhook", {"secret": SECRET, "colour": "blue"})
    assert caught.value.errors == {"colour": ["Unknown field."]}
    assert str(caught.value) == "webhook settings: colour: Unknown field."
    with pytest.raises(SettingsInvalid) as caught:
        load_settings("webhook", {"secret": "nope"})
    assert caught.value.errors == {"secret": ["a webhook secret starts with 'whsec_'"]}


def test_webhook_connector_uses_the_transport_and_crm_timeout() -> None:
    seen: list[httpx.Request] = []

    def crm(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200)

    settings = Settings.from_mapping({"crm_timeout": 2.5})
    connector = build_connector(
        "webhook",
        url=URL,
        settings={"secret": SECRET},
        app_settings=settings,
        transport=httpx.MockTransport(crm),
    )
    try:
        connector.write(tags_synced({"contact_id": "Contact.1.31"}))
    finally:
        connector.close()

    assert isinstance(connector, WebhookConnector)
    [request] = seen
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    sent = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert sent["type"] == "post.tags_synced"
    # The event's record comes back with the result.
    assert sent["data"]["record"] == {"contact_id": "Contact.1.31"}


def test_without_a_record_the_write_back_has_none() -> None:
    seen: list[bytes] = []

    def crm(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return httpx.Response(200)

    connector = build_connector(
        "webhook",
        url=URL,
        settings={"secret": SECRET},
        app_settings=Settings(),
        transport=httpx.MockTransport(crm),
    )
    try:
        connector.write(tags_synced())
    finally:
        connector.close()
    assert b'"record"' not in seen[0]


def test_preview_shows_the_signed_request_without_sending() -> None:
    def crm(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a preview must not send")

    connector = build_connector(
        "webhook",
        url=URL,
        settings={"secret": SECRET},
        app_settings=Settings(),
        transport=httpx.MockTransport(crm),
    )
    try:
        [request] = connector.preview(tags_synced())
    finally:
        connector.close()
    assert (request.method, request.url) == ("POST", URL)
    assert request.headers["webhook-id"] == "wb-1"
    assert Webhook(SECRET).verify(request.body, dict(request.headers))["data"]["post_id"] == (
        "crm-post-1"
    )


def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def crm(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"location": "https://elsewhere.example/"})

    connector = build_connector(
        "webhook",
        url=URL,
        settings={"secret": SECRET},
        app_settings=Settings(),
        transport=httpx.MockTransport(crm),
    )
    try:
        with pytest.raises(PermanentError, match="redirect"):
            connector.write(tags_synced())
    finally:
        connector.close()

    assert seen == [URL]


def test_unknown_kind() -> None:
    with pytest.raises(
        ValueError, match="unknown CRM kind 'salesforce'; expected one of: webhook, smartoffice"
    ):
        build_connector("salesforce", url=URL, settings={}, app_settings=Settings())


def test_an_unusable_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CRM secret"):
        build_connector("webhook", url=URL, settings={"secret": ""}, app_settings=Settings())


def test_a_url_httpx_cannot_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CRM URL: not a URL httpx can use"):
        build_connector(
            "webhook", url="http://[::1", settings={"secret": SECRET}, app_settings=Settings()
        )
