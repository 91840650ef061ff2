"""The connector protocol (v2): what every CRM connector declares and implements.

A CRM kind is one folder under ``crm/`` that exports ``KIND``, a `ConnectorKind`, and one
entry in `crm.registry.KINDS`. The kind declares:

- its `Capabilities`: which write-back types it can deliver, which inbound authentication
  modes its CRM can use (the first is the default of ``connections add``), whether it needs
  ``--crm-url``, and which fields the outbound part of a mapping may set;
- its settings schema (marshmallow, `SettingsSchema`): what ``--crm-setting KEY=VALUE``
  takes. Fields whose metadata has ``secret: True`` are shown masked unless asked for with
  ``--secrets`` (the store encrypts every setting at rest);
- ``build(ConnectorConfig) -> CRMConnector``.

A flow builds a `WriteBack` (type, a stable idempotency key, the data and the CRM record of
the event) and asks the connector's capabilities before calling ``write``. Connectors raise
only the errors of `socialbridge.errors`, with ``system="crm"``:

    RetryableError   network error, timeout, 5xx, 429 (``retry_after`` when the CRM said)
    AuthError        the CRM refused our credentials or signature
    PermanentError   the CRM refused the write-back itself, or it cannot be built
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from marshmallow import fields

from schemas.base import StrictSchema
from socialbridge.inbound_auth import InboundAuth

__all__ = [
    "CRMConnector",
    "Capabilities",
    "ConnectorConfig",
    "ConnectorKind",
    "InboundAuth",
    "LedgerEntry",
    "OutgoingRequest",
    "SettingsSchema",
    "WriteBack",
    "WriteLedger",
    "secret_field",
    "secret_names",
]

if TYPE_CHECKING:
    from mappings import FieldSpec
    from socialbridge.config import Settings


@dataclass(frozen=True)
class WriteBack:
    """One result to write to the CRM.

    ``type`` is one of `schemas.writebacks.WRITEBACK_TYPES`; ``data`` is validated by its
    schema when written. ``idempotency_key`` must be the same on every retry of the same
    write, so the CRM (or the connector) can de-duplicate. ``record`` is the event's
    ``data.record``: the CRM record(s) the write goes to (``contact_id``, ``contact_email``).
    """

    type: str
    idempotency_key: str
    data: Mapping[str, Any]
    record: Mapping[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """What outbound mapping selectors and templates read: the data, ``type`` and ``record``."""
        return {**self.data, "type": self.type, "record": dict(self.record)}


@dataclass(frozen=True)
class OutgoingRequest:
    """One request a write would send, secrets removed: what `mappings preview` shows."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: str
    purpose: str = ""


@dataclass(frozen=True)
class Capabilities:
    writebacks: frozenset[str]
    inbound_auth: tuple[InboundAuth, ...]
    needs_url: bool = True
    # The fields the outbound part of a mapping may set, for every write-back type; empty:
    # the connector takes no outbound mapping (its format is fixed).
    outbound_fields: tuple[str, ...] = ()

    def supports(self, writeback_type: str) -> bool:
        return writeback_type in self.writebacks

    @property
    def default_inbound_auth(self) -> InboundAuth:
        return self.inbound_auth[0]


class LedgerEntry(Protocol):
    """What the ledger knows of one write: ``status`` is "sending" or "sent"."""

    @property
    def status(self) -> str: ...

    @property
    def attempts(self) -> int: ...


class WriteLedger(Protocol):
    """A record of writes kept by socialbridge, for CRMs that cannot be asked what they have.

    ``begin`` before sending (an entry found "sent" must not be sent again), ``mark_sent``
    once the CRM took the write. Backed by the store (`store.writes`), bound to one connection.
    """

    def begin(
        self,
        key: str,
        *,
        writeback_type: str,
        contact: str,
        record: Mapping[str, str],
        tags: Sequence[str],
    ) -> LedgerEntry: ...

    def mark_sent(self, key: str) -> None: ...


class SettingsSchema(StrictSchema):
    """Base of every connector's settings schema: unknown settings are refused by name."""


def secret_field(**kwargs: Any) -> fields.String:
    """A string setting that is a secret: masked in output unless ``--secrets``."""
    metadata = {"secret": True, **kwargs.pop("metadata", {})}
    return fields.String(metadata=metadata, **kwargs)


def secret_names(schema: type[SettingsSchema]) -> frozenset[str]:
    """The settings of ``schema`` that are secrets."""
    return frozenset(
        name
        for name, declared in schema._declared_fields.items()
        if declared.metadata.get("secret")
    )


@dataclass(frozen=True)
class ConnectorConfig:
    """Everything a connector is built from (by `crm.registry.build_connector`)."""

    url: str
    # Loaded by the kind's settings schema; secrets in clear text: never log them.
    settings: Mapping[str, Any]
    app: Settings
    # The outbound part of the connection's mapping: write-back type -> field -> spec.
    outbound: Mapping[str, Mapping[str, FieldSpec]] = field(default_factory=dict)
    # Replaces the network in tests (httpx.MockTransport, WSGITransport) and shares a pool.
    transport: httpx.BaseTransport | None = None
    # The connection's write ledger, for connectors whose CRM cannot de-duplicate (email).
    ledger: WriteLedger | None = None


class CRMConnector(Protocol):
    """Writes results to one CRM connection."""

    def write(self, writeback: WriteBack) -> None:
        """Deliver one write-back; raise RetryableError, AuthError or PermanentError."""
        ...

    def preview(self, writeback: WriteBack) -> list[OutgoingRequest]:
        """The request(s) ``write`` would send for this write-back, without sending them.

        Raises PermanentError where ``write`` would (a missing record, an invalid mapping
        result), so a preview shows the same refusal.
        """
        ...

    def check(self) -> str:
        """A cheap real call; return a human message if it worked, raise IntegrationError if not."""
        ...

    def close(self) -> None:
        """Release the connector's connections."""
        ...


@dataclass(frozen=True)
class ConnectorKind:
    """One kind of CRM, as the registry knows it."""

    kind: str
    title: str
    capabilities: Capabilities
    settings_schema: type[SettingsSchema]
    build: Callable[[ConnectorConfig], CRMConnector]
    # Settings generated when not given (e.g. the webhook connector's signing secret).
    generated: Mapping[str, Callable[[], str]] = field(default_factory=dict)

    @property
    def secret_settings(self) -> frozenset[str]:
        return secret_names(self.settings_schema)
