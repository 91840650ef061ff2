"""The interface every CRM connector implements, and the value a flow hands it.

A flow builds a `WriteBack` (type, a stable idempotency key, the data) and calls
`connector.write(...)`; which CRM is on the other end is the registry's business
(`crm.registry.build_connector`). Connectors raise only the errors of `socialbridge.errors`,
with ``system="crm"``:

    RetryableError   network error, timeout, 5xx, 429 (``retry_after`` when the CRM said)
    AuthError        the CRM refused our credentials or signature: the CRM secret is wrong
    PermanentError   the CRM refused the write-back itself (other 4xx), or it is invalid
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class WriteBack:
    """One result to write to the CRM.

    ``type`` is one of `schemas.writebacks.WRITEBACK_TYPES`; ``data`` is validated by its
    schema when written. ``idempotency_key`` must be the same on every retry of the same
    write (the webhook connector sends it as ``webhook-id``), so the CRM can de-duplicate.
    """

    type: str
    idempotency_key: str
    data: Mapping[str, Any]


class CRMConnector(Protocol):
    """Writes results to one CRM connection."""

    def write(self, writeback: WriteBack) -> None:
        """Deliver one write-back; raise RetryableError, AuthError or PermanentError."""
        ...

    def check(self) -> str:
        """Probe the CRM; return a human message if reachable, raise an IntegrationError if not."""
        ...

    def close(self) -> None:
        """Release the connector's connections."""
        ...
