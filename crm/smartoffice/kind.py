"""The ``smartoffice`` kind: its capabilities, its settings and how it is built."""

from __future__ import annotations

import httpx

from crm.connector import Capabilities, ConnectorConfig, ConnectorKind, CRMConnector, InboundAuth
from crm.smartoffice.connector import OUTBOUND_FIELDS, SmartOfficeConnector
from crm.smartoffice.settings import Credentials, SmartOfficeSettings
from schemas.writebacks import WRITEBACK_TYPES


def build(config: ConnectorConfig) -> CRMConnector:
    """A connector for one connection; ValueError for a URL or settings it cannot use."""
    credentials = Credentials.from_settings(config.settings)
    http = httpx.Client(
        timeout=config.app.crm_timeout,
        transport=config.transport,
        # A redirect would carry the credentials somewhere the operator did not configure.
        follow_redirects=False,
    )
    try:
        return SmartOfficeConnector(
            http,
            url=config.url,
            credentials=credentials,
            stats_contact_id=config.settings.get("stats_contact_id"),
            outbound=config.outbound,
        )
    except Exception:
        http.close()
        raise


KIND = ConnectorKind(
    kind="smartoffice",
    title="SmartOffice (XML Engine)",
    capabilities=Capabilities(
        writebacks=frozenset(WRITEBACK_TYPES),
        # SmartOffice cannot sign a request: its Adapter buttons and automations send a token.
        inbound_auth=(InboundAuth.TOKEN,),
        needs_url=True,
        outbound_fields=OUTBOUND_FIELDS,
    ),
    settings_schema=SmartOfficeSettings,
    build=build,
)
