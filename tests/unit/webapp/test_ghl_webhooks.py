"""`POST /webhooks/ghl`: GHL's signed app webhooks, answer by answer, on a real store and Redis.

Deliveries are signed by the sandbox GHL (`sandbox.ghl.app_webhooks.signed_delivery`, its own
Ed25519 key) and the app is configured with the sandbox's public key, as `make run` does.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.ghl import SANDBOX_WEBHOOK_PUBLIC_KEY_PEM
from sandbox.ghl.app_webhooks import AppWebhook, sign, signed_delivery
from sandbox.ghl.seed import timestamp
from socialbridge.config import ConfigError
from socialbridge.embedded_redis import free_port
from store import Store
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.webapp.conftest import AppFactory
from workers.app_webhooks import TASK_NAME, process_app_webhook

URL = "https://bridge.example/webhooks/ghl"


@pytest.fixture
def ghl(make_app: AppFactory) -> FlaskClient:
    """The web app, verifying with the sandbox GHL's public key."""
    return make_app(ghl_webhook_public_key=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM).test_client()


@pytest.fixture
def store(ghl: FlaskClient) -> Store:
    found: Store = ghl.application.extensions["socialbridge"].store
    return found


def deliver(client: FlaskClient, **fields: Any) -> TestResponse:
    """POST a delivery signed by the sandbox GHL (tamper, timestamp, webhook_id allowed)."""
    webhook = AppWebhook(url=URL, **{"type": "UNINSTALL", "location_id": "loc_a", **fields})
    body, headers = signed_delivery(webhook)
    return client.post("/webhooks/ghl", data=body, headers=headers)


def post_signed(client: FlaskClient, body: bytes) -> TestResponse:
    """POST any body with a valid sandbox signature of it."""
    headers = {"content-type": "application/json", "x-ghl-signature": sign(body)}
    return client.post("/webhooks/ghl", data=body, headers=headers)


def now_text(offset: dt.timedelta = dt.timedelta()) -> str:
    return timestamp(dt.datetime.now(dt.UTC) + offset)


def nothing_accepted(store: Store, redis_url: str) -> bool:
    return store.list_app_events() == [] and queue_length(redis_url) == 0


# --- accepted, duplicate, ignored --------------------------------------------------------------


def test_a_signed_uninstall_is_recorded_queued_and_answered_200(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    answer = deliver(ghl, webhook_id="wh-1")

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "accepted"}
    recorded = store.get_app_event("wh-1")
    assert recorded is not None
    assert (recorded.type, recorded.location_id, recorded.processed_at) == (
        "UNINSTALL",
        "loc_a",
        None,
    )
    [task] = queued_tasks(redis_url)
    assert task.name == TASK_NAME
    assert task.args == [recorded.payload]
    assert task.id.startswith("ghlapp-wh-1-")


def test_the_queued_payload_is_what_the_task_acts_on(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    connection = store.create_connection(
        name="a", location_id="loc_a", ghl_token="", ghl_auth="oauth", crm_url="http://crm/h"
    )
    store.save_oauth_tokens(
        connection.id,
        access_token="at-1",
        refresh_token="rt-1",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        scopes=["socialplanner/tag.readonly"],
        location_id="loc_a",
        company_id="comp_sandbox",
        authorized=True,
    )
    assert deliver(ghl, webhook_id="wh-run").status_code == 200
    [task] = queued_tasks(redis_url)

    process_app_webhook(store, *task.args)

    after = store.get_connection(connection.id)
    assert after is not None
    assert after.status == "disconnected"
    assert after.status_reason is not None
    assert after.status_reason.startswith("GHL UNINSTALL at ")


def test_an_install_is_accepted_too(ghl: FlaskClient, redis_url: str) -> None:
    answer = deliver(ghl, type="INSTALL")

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "accepted"}
    assert [task.name for task in queued_tasks(redis_url)] == [TASK_NAME]


def test_a_replayed_webhook_id_is_a_duplicate_and_does_nothing(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    first = deliver(ghl, webhook_id="wh-replayed")
    recorded = store.get_app_event("wh-replayed")

    again = deliver(ghl, webhook_id="wh-replayed")

    assert first.get_json() == {"status": "accepted"}
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate"}
    assert queue_length(redis_url) == 1
    assert store.get_app_event("wh-replayed") == recorded


def test_another_type_is_recorded_as_ignored_and_not_queued(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    body = json.dumps(
        {"type": "LocationCreate", "webhookId": "wh-other", "timestamp": now_text()}
    ).encode()

    answer = post_signed(ghl, body)
    again = post_signed(ghl, body)

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ignored"}
    assert again.get_json() == {"status": "duplicate"}
    recorded = store.get_app_event("wh-other")
    assert recorded is not None
    assert recorded.outcome == "ignored: socialbridge acts on INSTALL and UNINSTALL only"
    assert queue_length(redis_url) == 0


# --- refused -----------------------------------------------------------------------------------


def test_a_tampered_delivery_is_401_and_nothing_is_accepted(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    answer = deliver(ghl, tamper=True)

    assert answer.status_code == 401
    assert answer.get_json() == {
        "error": "invalid_signature",
        "message": "bad x-ghl-signature: it does not verify the body with GHL's key",
    }
    assert nothing_accepted(store, redis_url)


@pytest.mark.parametrize("offset", [dt.timedelta(minutes=-6), dt.timedelta(minutes=6)])
def test_a_stale_timestamp_is_401_and_nothing_is_accepted(
    ghl: FlaskClient, store: Store, redis_url: str, offset: dt.timedelta
) -> None:
    answer = deliver(ghl, timestamp=now_text(offset))

    assert answer.status_code == 401
    assert answer.get_json()["message"].startswith("stale timestamp: ")
    assert nothing_accepted(store, redis_url)


def test_a_timestamp_four_minutes_old_is_accepted(ghl: FlaskClient) -> None:
    answer = deliver(ghl, timestamp=now_text(dt.timedelta(minutes=-4)))

    assert answer.get_json() == {"status": "accepted"}


def test_an_unsigned_delivery_is_401(ghl: FlaskClient, store: Store, redis_url: str) -> None:
    body, _ = signed_delivery(AppWebhook(url=URL, type="UNINSTALL", location_id="loc_a"))

    answer = ghl.post("/webhooks/ghl", data=body, headers={"content-type": "application/json"})

    assert answer.status_code == 401
    assert answer.get_json()["message"].startswith("no x-ghl-signature")
    assert nothing_accepted(store, redis_url)


def test_by_default_only_ghls_published_key_verifies(make_app: AppFactory, redis_url: str) -> None:
    # Without GHL_WEBHOOK_PUBLIC_KEY the receiver trusts GHL's key, not the sandbox's.
    client = make_app().test_client()

    answer = deliver(client)

    assert answer.status_code == 401
    assert queue_length(redis_url) == 0


def test_a_signed_body_that_is_not_json_is_400(ghl: FlaskClient) -> None:
    answer = post_signed(ghl, b"{not json")

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"


def test_a_payload_that_does_not_fit_is_422_naming_the_field(
    ghl: FlaskClient, store: Store, redis_url: str
) -> None:
    body = json.dumps(
        {"type": "INSTALL", "webhookId": "wh-x", "timestamp": now_text(), "locationId": "loc_a"}
    ).encode()

    answer = post_signed(ghl, body)

    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {"appId": ["INSTALL names the app it concerns."]}
    assert nothing_accepted(store, redis_url)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("webhookId", "wh\tone", "control character '\\t' at position 2 is not allowed"),
        ("webhookId", "   ", "must not be empty"),
        ("locationId", "l" * 101, "at most 100 characters, got 101"),
        ("companyId", "c" * 101, "at most 100 characters, got 101"),
    ],
)
def test_ids_the_app_event_log_cannot_keep_are_422_and_nothing_is_accepted(
    ghl: FlaskClient, store: Store, redis_url: str, field: str, value: str, message: str
) -> None:
    payload = AppWebhook(url=URL, type="UNINSTALL", location_id="loc_a").payload()
    body = json.dumps({**payload, field: value}).encode()

    answer = post_signed(ghl, body)

    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {field: [message]}
    assert nothing_accepted(store, redis_url)


def test_a_body_over_the_limit_is_413(make_app: AppFactory, redis_url: str) -> None:
    client = make_app(
        ghl_webhook_public_key=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, webhook_max_bytes=300
    ).test_client()

    answer = deliver(client, location_id="loc_" + "x" * 400)

    assert answer.status_code == 413
    assert queue_length(redis_url) == 0


# --- the legacy RSA signature -------------------------------------------------------------------


def rsa_signed(private_key: rsa.RSAPrivateKey, body: bytes) -> dict[str, str]:
    signature = private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return {
        "content-type": "application/json",
        "x-wh-signature": base64.b64encode(signature).decode(),
    }


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_an_rsa_signature_passes_only_when_its_key_is_configured(
    make_app: AppFactory, rsa_key: rsa.RSAPrivateKey, redis_url: str
) -> None:
    body, _ = signed_delivery(AppWebhook(url=URL, type="UNINSTALL", location_id="loc_a"))
    without = make_app().test_client()
    configured = make_app(ghl_webhook_rsa_public_key=rsa_public_pem(rsa_key)).test_client()

    refused = without.post("/webhooks/ghl", data=body, headers=rsa_signed(rsa_key, body))
    accepted = configured.post("/webhooks/ghl", data=body, headers=rsa_signed(rsa_key, body))

    assert refused.status_code == 401
    assert "accepted only when GHL_WEBHOOK_RSA_PUBLIC_KEY is set" in refused.get_json()["message"]
    assert accepted.status_code == 200
    assert accepted.get_json() == {"status": "accepted"}
    assert queue_length(redis_url) == 1


def test_a_key_that_is_not_one_stops_the_app_at_start(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="GHL_WEBHOOK_PUBLIC_KEY"):
        make_app(ghl_webhook_public_key="not a key")


# --- outages: 429, the one answer GHL retries -------------------------------------------------


def test_when_redis_is_unreachable_the_answer_is_429_and_nothing_is_kept(
    make_app: AppFactory, ghl: FlaskClient, store: Store
) -> None:
    down = make_app(
        ghl_webhook_public_key=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    ).test_client()
    sent_at = now_text()

    answer = deliver(down, webhook_id="wh-outage", timestamp=sent_at)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "600"
    assert answer.get_json() == {
        "error": "unavailable",
        "message": "The queue is unavailable; nothing was accepted. Send it again later.",
    }
    assert store.list_app_events() == []
    # GHL's retry once the queue is back is a first delivery, not a duplicate.
    retried = deliver(ghl, webhook_id="wh-outage", timestamp=sent_at)
    assert retried.get_json() == {"status": "accepted"}


def test_when_the_store_is_unavailable_the_answer_is_429(
    make_app: AppFactory, tmp_path: Path, redis_url: str
) -> None:
    empty = make_app(
        ghl_webhook_public_key=SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
    ).test_client()

    answer = deliver(empty)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "600"
    assert answer.get_json()["message"].startswith("The event store is unavailable")
    assert queue_length(redis_url) == 0


def test_only_post_is_allowed(ghl: FlaskClient) -> None:
    assert ghl.get("/webhooks/ghl").status_code == 405
