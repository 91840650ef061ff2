"""What every flow receives: the connection, its clients, the store and the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from crm.connector import CRMConnector
from ghl.client import GHLClient
from socialbridge.errors import PermanentError
from store import ConnectionRecord, Store


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class FlowContext:
    connection: ConnectionRecord
    event_id: str
    ghl: GHLClient
    crm: CRMConnector
    store: Store
    now: dt.datetime
    replays: int = 0
    progress: Callable[[str], None] = field(default=_quiet)

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(dt.UTC).date()

    def idempotency_key(self, writeback_type: str) -> str:
        """One stable webhook-id per write of an event: retries and redeliveries reuse it.

        A replay (`events replay`) is a deliberate second write, so it gets a new id that a
        de-duplicating CRM does not drop.
        """
        if self.replays:
            return f"{self.event_id}.r{self.replays}.{writeback_type}"
        return f"{self.event_id}.{writeback_type}"

    def location_for(self, requested: str | None) -> str:
        """The GHL location an event is about: the connection's own unless the event names it.

        A Private Integration token belongs to one location, so another location could only
        fail with 401 and wrongly park the connection; refuse it as the event's own error.
        """
        location = self.connection.location_id
        if requested is not None and requested != location:
            raise PermanentError(
                f"data.location_id {requested!r} is not this connection's location {location!r}",
                system="socialbridge",
            )
        return location
