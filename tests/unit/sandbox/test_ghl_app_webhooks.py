"""Signed INSTALL/UNINSTALL deliveries of the sandbox GHL, received over real loopback HTTP."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, request
from flask.testing import FlaskClient

from sandbox.ghl import DEFAULT_LOCATION, create_sandbox_ghl_app
from sandbox.ghl.app_webhooks import (
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
    AppWebhook,
    public_key_pem,
    signed_delivery,
)
from sandbox.ghl.oauth import SANDBOX_APP_ID, SANDBOX_COMPANY_ID
from sandbox.server import ServerThread


class Receiver:
    """A tiny app that keeps every raw body and its headers, and answers a chosen status."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        self._lock = threading.Lock()
        self.app = Flask(__name__)
        self.app.add_url_rule("/webhooks/ghl", view_func=self._receive, methods=["POST"])

    def _receive(self) -> tuple[str, int]:
        with self._lock:
            self.received.append((request.get_data(), dict(request.headers.items())))
        return "ok", self.status


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with ServerThread(receiver.app) as server:
        yield receiver, f"{server.url}/webhooks/ghl"


@pytest.fixture
def client() -> FlaskClient:
    return create_sandbox_ghl_app().test_client()


def public_key() -> Ed25519PublicKey:
    key = load_pem_public_key(SANDBOX_WEBHOOK_PUBLIC_KEY_PEM.encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


def verifies(body: bytes, headers: dict[str, str]) -> bool:
    signature = base64.b64decode(headers["X-Ghl-Signature"])
    try:
        public_key().verify(signature, body)
    except InvalidSignature:
        return False
    return True


def send(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/_sandbox/app-webhooks", json=fields)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def test_the_published_public_key_is_the_signing_keys(client: FlaskClient) -> None:
    assert public_key_pem() == SANDBOX_WEBHOOK_PUBLIC_KEY_PEM
    response = client.get("/_sandbox/webhook-public-key")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == SANDBOX_WEBHOOK_PUBLIC_KEY_PEM


def test_an_install_arrives_signed_with_ghls_fields(
    client: FlaskClient, receiver: tuple[Receiver, str]
) -> None:
    sink, url = receiver
    answer = send(client, url=url, type="INSTALL", location_id=DEFAULT_LOCATION)
    [(body, headers)] = sink.received
    assert answer["status"] == 200
    assert answer["sent"]["body"] == body.decode()
    assert headers["Content-Type"] == "application/json"
    assert verifies(body, headers)
    payload = json.loads(body)
    assert payload["type"] == "INSTALL"
    assert payload["appId"] == SANDBOX_APP_ID
    assert payload["locationId"] == DEFAULT_LOCATION
    assert payload["companyId"] == SANDBOX_COMPANY_ID
    assert payload["webhookId"]
    assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None


def test_an_uninstall_carries_the_chosen_company_timestamp_and_webhook_id(
    client: FlaskClient, receiver: tuple[Receiver, str]
) -> None:
    sink, url = receiver
    sink.status = 401
    answer = send(
        client,
        url=url,
        type="UNINSTALL",
        location_id="loc_x",
        company_id="comp_x",
        timestamp="2020-01-01T00:00:00.000Z",
        webhook_id="wh-1",
    )
    assert answer["status"] == 401  # the receiver's answer is reported as it was
    [(body, headers)] = sink.received
    assert verifies(body, headers)
    payload = json.loads(body)
    assert payload["type"] == "UNINSTALL"
    assert payload["companyId"] == "comp_x"
    assert payload["timestamp"] == "2020-01-01T00:00:00.000Z"
    assert payload["webhookId"] == "wh-1"


def test_a_tampered_delivery_no_longer_verifies(
    client: FlaskClient, receiver: tuple[Receiver, str]
) -> None:
    sink, url = receiver
    send(client, url=url, type="INSTALL", location_id=DEFAULT_LOCATION, tamper=True)
    [(body, headers)] = sink.received
    assert json.loads(body)["locationId"] != DEFAULT_LOCATION
    assert not verifies(body, headers)


def test_each_delivery_has_its_own_webhook_id() -> None:
    webhook = AppWebhook(url="http://127.0.0.1:1/", type="INSTALL", location_id="l")
    first, _ = signed_delivery(webhook)
    second, _ = signed_delivery(webhook)
    assert json.loads(first)["webhookId"] != json.loads(second)["webhookId"]


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "INSTALL", "location_id": "l"},
        {"url": "ftp://x", "type": "INSTALL", "location_id": "l"},
        {"url": "http://127.0.0.1:1/", "type": "DELETE", "location_id": "l"},
        {"url": "http://127.0.0.1:1/", "type": "INSTALL"},
        {"url": "http://127.0.0.1:1/", "type": "INSTALL", "location_id": "l", "tamper": "yes"},
        {"url": "http://127.0.0.1:1/", "type": "INSTALL", "location_id": "l", "timestamp": "soon"},
        {"url": "http://127.0.0.1:1/", "type": "INSTALL", "location_id": "l", "extra": 1},
    ],
)
def test_a_delivery_that_cannot_be_made_is_refused(
    client: FlaskClient, fields: dict[str, Any]
) -> None:
    response = client.post("/_sandbox/app-webhooks", json=fields)
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_an_unreachable_receiver_is_a_502(client: FlaskClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe is closed: the connection is refused.
    response = client.post(
        "/_sandbox/app-webhooks",
        json={"url": f"http://127.0.0.1:{port}/", "type": "INSTALL", "location_id": "l"},
    )
    assert response.status_code == 502
    assert "delivery failed" in response.get_json()["error"]
