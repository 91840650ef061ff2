"""The ``ixact`` kind: what it declares, and that it is never built without a ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from crm.connector import ConnectorConfig, InboundAuth
from crm.ixact import KIND, IxactConnector
from crm.registry import build_connector, connector_kind
from schemas.writebacks import WRITEBACK_TYPES
from socialbridge.config import Settings

SETTINGS = {"smtp_host": "smtp.example.com", "sender": "agent@example.com"}


class _Entry:
    status = "sending"
    attempts = 1


class _NoLedger:
    """A ledger that is there but must not be used by anything these tests do."""

    def begin(
        self,
        key: str,
        *,
        writeback_type: str,
        contact: str,
        record: Mapping[str, str],
        tags: Sequence[str],
    ) -> _Entry:
        raise AssertionError("nothing here writes")

    def mark_sent(self, key: str) -> None:
        raise AssertionError("nothing here writes")


def test_the_kind_declares_what_ixact_can_do() -> None:
    assert connector_kind("ixact") is KIND
    assert KIND.title == "IXACT Contact (email capture)"
    assert KIND.capabilities.writebacks == frozenset(WRITEBACK_TYPES)
    # IXACT cannot sign: token first, so it is the default of `connections add`.
    assert KIND.capabilities.inbound_auth == (InboundAuth.TOKEN, InboundAuth.SIGNATURE)
    assert KIND.capabilities.default_inbound_auth is InboundAuth.TOKEN
    assert KIND.capabilities.needs_url is False
    assert KIND.capabilities.outbound_fields == ("Subject", "Body")
    assert KIND.secret_settings == {"smtp_password"}
    assert dict(KIND.generated) == {}


def test_a_connector_without_a_ledger_is_never_built() -> None:
    config = ConnectorConfig(url="", settings=SETTINGS, app=Settings())

    with pytest.raises(ValueError, match="needs the connection's write ledger"):
        KIND.build(config)


def test_build_with_a_ledger_makes_an_ixact_connector() -> None:
    connector = build_connector(
        "ixact", url="", settings=SETTINGS, app_settings=Settings(), ledger=_NoLedger()
    )
    try:
        assert isinstance(connector, IxactConnector)
    finally:
        connector.close()


def test_build_refuses_stored_settings_it_cannot_use() -> None:
    config = ConnectorConfig(
        url="",
        settings={"smtp_host": "smtp.example.com", "sender": "agent@example.com", "smtp_user": "a"},
        app=Settings(),
        ledger=_NoLedger(),
    )

    with pytest.raises(ValueError, match="CRM setting smtp_password"):
        KIND.build(config)
