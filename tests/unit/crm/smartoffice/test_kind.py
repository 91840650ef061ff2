"""The ``smartoffice`` kind: what it declares and the connector it builds."""

from __future__ import annotations

import httpx
import pytest

from crm.connector import ConnectorConfig, InboundAuth
from crm.smartoffice import KIND, SmartOfficeConnector
from schemas.writebacks import WRITEBACK_TYPES
from socialbridge.config import Settings

SETTINGS = {"auth": "direct", "office": "demo", "user": "agent", "password": "pw"}


def test_the_kind_declares_what_smartoffice_can_do() -> None:
    assert KIND.kind == "smartoffice"
    assert KIND.title == "SmartOffice (XML Engine)"
    assert KIND.capabilities.writebacks == frozenset(WRITEBACK_TYPES)
    assert KIND.capabilities.inbound_auth == (InboundAuth.TOKEN,)
    assert KIND.capabilities.needs_url is True
    assert KIND.capabilities.outbound_fields == ("ContactID", "Keywords", "Note")
    assert KIND.secret_settings == {"password", "api_key", "api_secret"}


def test_build_uses_the_transport_the_crm_timeout_and_no_redirects() -> None:
    seen: list[httpx.Request] = []

    def engine(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://elsewhere.example/"})

    config = ConnectorConfig(
        url="https://so.example/xml",
        settings=SETTINGS,
        app=Settings.from_mapping({"crm_timeout": 2.5}),
        transport=httpx.MockTransport(engine),
    )
    connector = KIND.build(config)
    try:
        assert isinstance(connector, SmartOfficeConnector)
        with pytest.raises(Exception, match="redirect"):
            connector.check()
    finally:
        connector.close()

    [request] = seen  # the redirect was not followed
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


def test_build_refuses_a_bad_url() -> None:
    config = ConnectorConfig(url="mailto:x@so.example", settings=SETTINGS, app=Settings())

    with pytest.raises(ValueError, match="CRM URL"):
        KIND.build(config)


def test_build_refuses_stored_settings_that_lack_a_credential() -> None:
    config = ConnectorConfig(
        url="https://so.example/xml", settings={"office": "demo", "user": "agent"}, app=Settings()
    )

    with pytest.raises(ValueError, match="CRM setting password"):
        KIND.build(config)
