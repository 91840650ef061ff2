"""The {crm_kind: factory} table."""

from __future__ import annotations

import base64

import httpx
import pytest
from standardwebhooks import Webhook

from crm.connector import WriteBack
from crm.registry import KINDS, build_connector
from crm.webhook import WebhookConnector
from socialbridge.config import Settings
from socialbridge.errors import PermanentError

SECRET = "whsec_" + base64.b64encode(b"registry-test-secret-0123").decode()
URL = "https://crm.example/hooks/acme"


def tags_synced() -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key="wb-1",
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tags": [],
            "synced_at": "2026-11-23T10:00:00Z",
        },
    )


def test_kinds() -> None:
    assert KINDS == ("webhook",)


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
        secret=SECRET,
        settings=settings,
        transport=httpx.MockTransport(crm),
    )
    try:
        connector.write(tags_synced())
    finally:
        connector.close()

    assert isinstance(connector, WebhookConnector)
    [request] = seen
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert Webhook(SECRET).verify(request.content, dict(request.headers))["type"] == (
        "post.tags_synced"
    )


def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def crm(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"location": "https://elsewhere.example/"})

    connector = build_connector(
        "webhook",
        url=URL,
        secret=SECRET,
        settings=Settings(),
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
        ValueError, match="unknown CRM kind 'smartoffice'; expected one of: webhook"
    ):
        build_connector("smartoffice", url=URL, secret=SECRET, settings=Settings())


def test_an_unusable_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CRM secret"):
        build_connector("webhook", url=URL, secret="", settings=Settings())
