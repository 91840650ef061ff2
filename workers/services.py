"""What a flow needs from the outside world, built once per process from the settings.

Tests hand in httpx transports (for example `httpx.WSGITransport` around a sandbox app) so the
same code runs against in-process sandboxes, real sandbox servers or the real services.
"""

from __future__ import annotations

import threading

import httpx

from crm.connector import CRMConnector
from crm.registry import build_connector
from ghl.client import GHLClient
from socialbridge.config import Settings
from store import ConnectionRecord, Store


class Services:
    """Lazily built, process-wide dependencies: the store, GHL clients and CRM connectors."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        ghl_transport: httpx.BaseTransport | None = None,
        crm_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._lock = threading.Lock()
        self.ghl_transport = ghl_transport
        self.crm_transport = crm_transport

    @property
    def store(self) -> Store:
        # Built on first use: a forked worker child must open its own database connections.
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.database_url, self.settings.require_secret_key())
            return self._store

    def ghl_for(self, connection: ConnectionRecord) -> GHLClient:
        """A GHL client authorized as this connection (close it when done)."""
        return GHLClient.from_settings(
            self.settings, connection.ghl_token, transport=self.ghl_transport
        )

    def crm_for(self, connection: ConnectionRecord) -> CRMConnector:
        """The CRM connector of this connection (close it when done)."""
        return build_connector(
            connection.crm_kind,
            url=connection.crm_url,
            secret=connection.crm_secret,
            settings=self.settings,
            transport=self.crm_transport,
        )

    def dispose(self) -> None:
        if self._store is not None:
            self._store.dispose()
