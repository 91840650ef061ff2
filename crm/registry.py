"""Which connector serves which kind of CRM: one `{kind: ConnectorKind}` table.

Adding a CRM is one folder under ``crm/`` exporting ``KIND`` and one line in `KINDS`.
Everything else (the CLI's ``--crm`` choices, settings validation, which inbound modes a
connection may use, which outbound mapping fields exist) is read from that entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from marshmallow import ValidationError

from crm import ixact, smartoffice, webhook
from crm.connector import ConnectorConfig, ConnectorKind, CRMConnector, WriteLedger
from schemas.events import flatten_errors
from socialbridge.config import Settings

KINDS: Mapping[str, ConnectorKind] = {
    webhook.KIND.kind: webhook.KIND,
    smartoffice.KIND.kind: smartoffice.KIND,
    ixact.KIND.kind: ixact.KIND,
}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)
DEFAULT_KIND = "webhook"


class SettingsInvalid(ValueError):
    """Connector settings refused; ``errors`` by setting name, ``str`` one line each."""

    def __init__(self, kind: str, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        lines = [f"{name}: {' '.join(messages)}" for name, messages in sorted(self.errors.items())]
        super().__init__(f"{kind} settings: " + "; ".join(lines))


def connector_kind(kind: str) -> ConnectorKind:
    """The registry entry of ``kind``; ValueError naming the known kinds otherwise."""
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown CRM kind {kind!r}; expected one of: {', '.join(KIND_NAMES)}")
    return found


def load_settings(kind: str, raw: Mapping[str, Any], *, generate: bool = False) -> dict[str, Any]:
    """``raw`` validated by the kind's settings schema, as storable JSON values.

    ``generate`` fills the settings the kind generates when they are missing (a new
    connection's signing secret). Raises SettingsInvalid naming each refused setting.
    """
    entry = connector_kind(kind)
    given = dict(raw)
    if generate:
        for name, make in entry.generated.items():
            if given.get(name) is None:
                given[name] = make()
    schema = entry.settings_schema()
    try:
        loaded = schema.load(given)
    except ValidationError as exc:
        raise SettingsInvalid(kind, flatten_errors(exc.messages)) from None
    # Dumped again so that what is stored is plain JSON (no dates, no enums).
    dumped: dict[str, Any] = schema.dump(loaded)
    return {name: value for name, value in dumped.items() if value is not None}


def build_connector(
    kind: str,
    *,
    url: str,
    settings: Mapping[str, Any],
    app_settings: Settings,
    outbound: Mapping[str, Any] | None = None,
    transport: httpx.BaseTransport | None = None,
    ledger: WriteLedger | None = None,
) -> CRMConnector:
    """The connector for a connection's CRM (close it when done).

    ``transport`` replaces the network in tests (``httpx.MockTransport``, ``WSGITransport``).
    Raises ValueError for an unknown kind, or a URL or setting the connector cannot use.
    """
    entry = connector_kind(kind)
    config = ConnectorConfig(
        url=url,
        settings=settings,
        app=app_settings,
        outbound=outbound or {},
        transport=transport,
        ledger=ledger,
    )
    return entry.build(config)
