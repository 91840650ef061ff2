"""The ``webhook`` kind: its capabilities, its one setting and how it is built."""

from __future__ import annotations

import httpx
from marshmallow import ValidationError, validates

from crm.connector import (
    Capabilities,
    ConnectorConfig,
    ConnectorKind,
    CRMConnector,
    InboundAuth,
    SettingsSchema,
    secret_field,
)
from crm.webhook.connector import WebhookConnector, signer_for
from schemas.writebacks import WRITEBACK_TYPES
from socialbridge.inbound_auth import check_webhook_secret, new_webhook_secret


class WebhookSettings(SettingsSchema):
    secret = secret_field(
        required=True,
        metadata={"description": "whsec_ secret that signs write-backs (generated if omitted)"},
    )

    @validates("secret")
    def _check_secret(self, value: str, **_: object) -> None:
        try:
            check_webhook_secret(value)
            signer_for(value)
        except ValueError as exc:
            raise ValidationError(str(exc).removeprefix("CRM secret: ")) from None


def build(config: ConnectorConfig) -> CRMConnector:
    http = httpx.Client(
        timeout=config.app.crm_timeout,
        transport=config.transport,
        # A redirect would resend a signed body somewhere the operator did not configure.
        follow_redirects=False,
    )
    try:
        return WebhookConnector(http, url=config.url, secret=str(config.settings["secret"]))
    except Exception:
        http.close()
        raise


KIND = ConnectorKind(
    kind="webhook",
    title="Any CRM that receives signed webhooks (Standard Webhooks)",
    capabilities=Capabilities(
        writebacks=frozenset(WRITEBACK_TYPES),
        inbound_auth=(InboundAuth.SIGNATURE, InboundAuth.TOKEN),
        needs_url=True,
        # Its format is the documented write-back envelope; nothing in it is mapped.
        outbound_fields=(),
    ),
    settings_schema=WebhookSettings,
    build=build,
    generated={"secret": new_webhook_secret},
)
