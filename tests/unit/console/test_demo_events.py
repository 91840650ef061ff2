"""console.demo_events: the body a connection's CRM would send, signed as it would be."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from standardwebhooks import Webhook

from console import demo_events
from console.demo_events import Delivery, DemoEventRefused
from socialbridge.config import Settings
from store import ConnectionRecord, Store
from tests.unit.console.conftest import SECRET_KEY
from workers.services import Services


@pytest.fixture
def services(store: Store, redis_url: str) -> Services:
    settings = Settings.from_mapping({"secret_key": SECRET_KEY, "redis_url": redis_url})
    return Services(settings, store=store)


@pytest.fixture
def record(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme", location_id="loc_acme", ghl_token="pit-acme", crm_url="http://crm.example/a"
    )


def test_a_signed_body_verifies_with_the_connections_secret(record: ConnectionRecord) -> None:
    body = b'{"type":"statistics.requested","timestamp":"2026-01-01T00:00:00+00:00","data":{}}'
    headers = demo_events.signed_headers(record, body)

    Webhook(record.webhook_secrets[0]).verify(body, headers)
    assert headers["content-type"] == "application/json"


def test_a_token_connection_sends_its_token(store: Store) -> None:
    token = store.create_connection(
        name="t",
        location_id="loc_t",
        ghl_token="pit",
        crm_url="http://c.example",
        inbound_auth="token",
    )
    headers = demo_events.signed_headers(token, b"{}")
    assert headers["authorization"] == f"Bearer {token.inbound_token}"


def test_send_hands_the_made_body_to_the_receiver(
    services: Services, record: ConnectionRecord
) -> None:
    received: list[tuple[bytes, Mapping[str, str]]] = []

    def deliver(connection: ConnectionRecord, body: bytes, headers: Mapping[str, str]) -> Delivery:
        assert connection is record
        received.append((body, headers))
        return Delivery(202, {"event_id": "evt_1", "status": "queued"})

    delivery = demo_events.send_test_event(
        services, record, "post.published", deliver=deliver, post_id="p-9", ghl_post_id=None
    )

    assert delivery.accepted
    assert delivery.event_id == "evt_1"
    ((body, headers),) = received
    sent = json.loads(body)
    assert sent["type"] == "post.published"
    assert sent["data"]["post_id"] == "p-9"
    assert "ghl_post_id" not in sent["data"]
    Webhook(record.webhook_secrets[0]).verify(body, headers)


def test_a_mapping_of_its_own_cannot_get_a_made_body(
    services: Services, store: Store, record: ConnectionRecord
) -> None:
    mapped = store.update_connection(
        record.id,
        mapping="version: 1\ninbound:\n  type: post.published\n  fields:\n    post_id: $.id\n",
    )
    with pytest.raises(DemoEventRefused) as refused:
        demo_events.made_body(services, mapped, "post.published", "p", None, ())
    assert refused.value.usage
