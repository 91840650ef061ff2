"""The SmartOffice connector against the sandbox XML Engine, in process (WSGITransport)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm.connector import ConnectorConfig, CRMConnector, WriteBack
from crm.smartoffice import KIND
from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from sandbox.smartoffice.state import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_CONTACT_ID,
    DEMO_OFFICE,
    DEMO_PASSWORD,
    DEMO_SITENAME,
    DEMO_USER,
)
from socialbridge.config import Settings
from socialbridge.errors import AuthError, IntegrationError, RetryableError
from tests.unit.crm.smartoffice.samples import statistics, tags_synced

URL = "http://sandbox-smartoffice.test/xml"
DIRECT = {"office": DEMO_OFFICE, "user": DEMO_USER, "password": DEMO_PASSWORD}
GATEWAY = {
    "auth": "gateway",
    "sitename": DEMO_SITENAME,
    "office": DEMO_OFFICE,
    "user": DEMO_USER,
    "api_key": DEMO_API_KEY,
    "api_secret": DEMO_API_SECRET,
}


@pytest.fixture
def app() -> Flask:
    return create_sandbox_smartoffice_app()


@pytest.fixture
def control(app: Flask) -> FlaskClient:
    return app.test_client()


def build(app: Flask, settings: dict[str, Any]) -> CRMConnector:
    loaded = KIND.settings_schema().load(settings)
    config = ConnectorConfig(
        url=URL, settings=loaded, app=Settings(), transport=httpx.WSGITransport(app=app)
    )
    return KIND.build(config)


@pytest.fixture
def connector(app: Flask) -> Iterator[CRMConnector]:
    connector = build(app, DIRECT)
    yield connector
    connector.close()


def smartpads(control: FlaskClient) -> list[dict[str, Any]]:
    answer = control.get("/_sandbox/smartpads", query_string={"contact_id": DEMO_CONTACT_ID})
    pads: list[dict[str, Any]] = answer.get_json()
    return pads


def fault(control: FlaskClient, **spec: Any) -> None:
    assert control.post("/_sandbox/faults", json=spec).status_code == 201


def tag_details() -> WriteBack:
    return WriteBack(
        type="post.tag_details_attached",
        idempotency_key="evt_3.post.tag_details_attached",
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tag_ids": ["t1", "t9"],
            "tags": [{"_id": "t1", "tag": "Listing", "createdAt": "2023-08-02T00:00:00.000Z"}],
            "missing_tag_ids": ["t9"],
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record={"contact_id": DEMO_CONTACT_ID},
    )


@pytest.mark.parametrize(
    "writeback",
    [tags_synced(contact=DEMO_CONTACT_ID), tag_details(), statistics(contact=DEMO_CONTACT_ID)],
    ids=["tags_synced", "tag_details_attached", "statistics_synced"],
)
def test_each_write_back_type_stores_one_smartpad(
    connector: CRMConnector, control: FlaskClient, writeback: WriteBack
) -> None:
    connector.write(writeback)

    [pad] = smartpads(control)
    assert pad["ContactID"] == DEMO_CONTACT_ID
    assert pad["Note"].endswith(f"\nsocialbridge-id: {writeback.idempotency_key}")
    assert pad["Keywords"]


def test_a_repeated_write_stores_one_smartpad(
    connector: CRMConnector, control: FlaskClient
) -> None:
    connector.write(tags_synced(contact=DEMO_CONTACT_ID))
    connector.write(tags_synced(contact=DEMO_CONTACT_ID))

    assert len(smartpads(control)) == 1


def test_an_answer_lost_after_the_insert_is_not_stored_twice(
    connector: CRMConnector, control: FlaskClient
) -> None:
    writeback = tags_synced(contact=DEMO_CONTACT_ID)
    # Faults take requests in order: the search is only delayed, the insert is carried out
    # and its answer dropped.
    fault(control, delay_ms=1)
    fault(control, drop_answer=True)

    with pytest.raises(RetryableError):
        connector.write(writeback)
    connector.write(writeback)

    assert len(smartpads(control)) == 1
    log = control.get("/_sandbox/requests").get_json()
    assert [entry["answer"] for entry in log] == ["sent", "dropped", "sent"]
    assert [[op["operation"] for op in entry["operations"]] for entry in log] == [
        ["search"],
        ["insert"],
        ["search"],
    ]


def test_gateway_mode_writes_and_checks(app: Flask, control: FlaskClient) -> None:
    connector = build(app, GATEWAY)
    try:
        message = connector.check()
        connector.write(tags_synced(contact=DEMO_CONTACT_ID))
    finally:
        connector.close()

    assert "(API gateway, site sandbox, office demo, user agent)" in message
    assert len(smartpads(control)) == 1


def test_check_reports_the_server_time(connector: CRMConnector) -> None:
    message = connector.check()

    assert message.startswith("SmartOffice at http://sandbox-smartoffice.test answered in ")
    assert ": server time 20" in message
    assert message.endswith("(direct login, office demo, user agent)")


@pytest.mark.parametrize(
    ("code", "kind"), [(2003, RetryableError), (2002, AuthError), (10001, AuthError)]
)
def test_injected_errors_raise_their_kind(
    connector: CRMConnector, control: FlaskClient, code: int, kind: type[IntegrationError]
) -> None:
    fault(control, code=code)

    with pytest.raises(kind) as caught:
        connector.write(tags_synced(contact=DEMO_CONTACT_ID))

    assert type(caught.value) is kind
    assert f"SmartOffice error {code}:" in caught.value.message
    assert smartpads(control) == []


def test_a_wrong_password_is_an_auth_error(app: Flask) -> None:
    connector = build(app, {**DIRECT, "password": "not-the-password"})
    try:
        with pytest.raises(AuthError, match="SmartOffice error 2002"):
            connector.check()
    finally:
        connector.close()


def test_wrong_gateway_keys_are_an_auth_error(app: Flask) -> None:
    connector = build(app, {**GATEWAY, "api_secret": "expired-secret"})
    try:
        with pytest.raises(AuthError):
            connector.check()
    finally:
        connector.close()


def test_a_broken_gateway_is_retryable(connector: CRMConnector, control: FlaskClient) -> None:
    fault(control, status=503)

    with pytest.raises(RetryableError) as caught:
        connector.write(tags_synced(contact=DEMO_CONTACT_ID))

    assert caught.value.status == 503
