"""Which connector serves which kind of CRM: one `{crm_kind: factory}` table.

Only ``webhook`` (the generic signed-webhook connector) exists today; SmartOffice and IXACT
Contact will be added here as their own kinds, each a factory with the same signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

from crm.connector import CRMConnector
from crm.webhook import WebhookConnector
from socialbridge.config import Settings


class ConnectorFactory(Protocol):
    def __call__(
        self,
        *,
        url: str,
        secret: str,
        settings: Settings,
        transport: httpx.BaseTransport | None,
    ) -> CRMConnector: ...


def _webhook(
    *, url: str, secret: str, settings: Settings, transport: httpx.BaseTransport | None
) -> CRMConnector:
    http = httpx.Client(
        timeout=settings.crm_timeout,
        transport=transport,
        # A redirect would resend a signed body somewhere the operator did not configure.
        follow_redirects=False,
    )
    try:
        return WebhookConnector(http, url=url, secret=secret)
    except Exception:
        http.close()
        raise


FACTORIES: Mapping[str, ConnectorFactory] = {"webhook": _webhook}
KINDS: tuple[str, ...] = tuple(FACTORIES)


def build_connector(
    kind: str,
    *,
    url: str,
    secret: str,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
) -> CRMConnector:
    """The connector for a connection's CRM (close it when done).

    ``transport`` replaces the network in tests (``httpx.MockTransport``, ``WSGITransport``).
    Raises ValueError for an unknown kind, or a URL or secret the connector cannot use.
    """
    factory = FACTORIES.get(kind)
    if factory is None:
        raise ValueError(f"unknown CRM kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return factory(url=url, secret=secret, settings=settings, transport=transport)
