"""The ``ixact`` kind: its capabilities, its settings and how it is built."""

from __future__ import annotations

from crm.connector import Capabilities, ConnectorConfig, ConnectorKind, CRMConnector, InboundAuth
from crm.ixact.connector import OUTBOUND_FIELDS, IxactConnector
from crm.ixact.sending import SmtpSender
from crm.ixact.settings import IxactSettings, SmtpSettings
from schemas.writebacks import WRITEBACK_TYPES


def build(config: ConnectorConfig) -> CRMConnector:
    """A connector for one connection; ValueError for settings it cannot use or no ledger.

    The ledger is what keeps a write to one email: without it a retry could not tell a sent
    write from an unsent one, so such a connector is never built.
    """
    if config.ledger is None:
        raise ValueError(
            "the IXACT Contact connector needs the connection's write ledger: it never "
            "sends an email it has not recorded"
        )
    settings = SmtpSettings.from_settings(config.settings)
    return IxactConnector(
        SmtpSender(settings, timeout=config.app.crm_timeout),
        ledger=config.ledger,
        outbound=config.outbound,
    )


KIND = ConnectorKind(
    kind="ixact",
    title="IXACT Contact (email capture)",
    capabilities=Capabilities(
        writebacks=frozenset(WRITEBACK_TYPES),
        # IXACT sends nothing: whatever posts on its behalf (a form, an automation tool)
        # sends a token far more easily than it signs.
        inbound_auth=(InboundAuth.TOKEN, InboundAuth.SIGNATURE),
        needs_url=False,
        outbound_fields=OUTBOUND_FIELDS,
    ),
    settings_schema=IxactSettings,
    build=build,
)
