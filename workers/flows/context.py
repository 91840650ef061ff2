"""What every flow receives: the connection, its clients, the store, the clock, and the cache of
the location's tags (`workers.tag_cache`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from crm.connector import Capabilities, CRMConnector, WriteBack
from crm.registry import connector_kind
from ghl.client import GHLClient
from socialbridge.errors import PermanentError
from store import ConnectionRecord, PostRecord, SnapshotRecord
from workers.lease import check_attempt
from workers.tag_cache import TagCache


class FlowStore(Protocol):
    """What flows keep of their results: `store.Store`, or a preview's unsaved stand-in."""

    def save_post_tags(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        tags: list[dict[str, Any]],
        post_tags: list[dict[str, Any]],
        ghl_post_id: str | None = None,
        title: str | None = None,
        published_at: dt.datetime | None = None,
    ) -> PostRecord: ...

    def save_tag_details(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        details: list[dict[str, Any]],
    ) -> PostRecord: ...

    def save_snapshot(
        self,
        *,
        connection_id: str,
        location_id: str,
        start_date: date,
        end_date: date,
        profile_ids: list[str],
        totals: dict[str, float],
        platforms: dict[str, dict[str, float]],
        daily: dict[str, list[float]],
        day_range: list[str],
    ) -> SnapshotRecord: ...


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class FlowContext:
    connection: ConnectionRecord
    event_id: str
    ghl: GHLClient
    crm: CRMConnector
    store: FlowStore
    now: dt.datetime
    replays: int = 0
    progress: Callable[[str], None] = field(default=_quiet)
    # The process's cache of tag lists (`workers.tag_cache.tag_cache_for`); None: every
    # post.published lists the tags itself (TAG_CACHE_TTL=0, previews, tests of one flow).
    tag_cache: TagCache | None = None
    # What `write_back` wrote (type and webhook-id) or left in the store, one line each: the
    # attempt's history keeps it (``store.event_attempts``).
    written: list[str] = field(default_factory=list)

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

    @property
    def capabilities(self) -> Capabilities:
        return connector_kind(self.connection.crm_kind).capabilities

    def write_back(
        self,
        writeback_type: str,
        data: Mapping[str, Any],
        record: Mapping[str, str] | None,
        *,
        about: str,
    ) -> bool:
        """Write one result to the CRM, if its connector takes that write-back; False if not.

        ``record`` is the event's ``data.record``: which CRM record the result goes to;
        ``about`` ends the progress line ("for CRM post crm-1").
        A connector that takes no such write-back is not an error: the result stays in the
        store (and the event is done), which the progress line says.
        """
        if not self.capabilities.supports(writeback_type):
            self.progress(
                f"the {self.connection.crm_kind} connector takes no {writeback_type}; "
                "the result is kept in the store only"
            )
            self.written.append(f"{writeback_type}: kept in the store only")
            return False
        # An attempt that overran TASK_TIME_LIMIT or lost its lease writes nothing: the
        # attempt that took the event after it writes instead (workers/lease.py).
        check_attempt()
        key = self.idempotency_key(writeback_type)
        self.crm.write(
            WriteBack(
                type=writeback_type, idempotency_key=key, data=data, record=dict(record or {})
            )
        )
        self.written.append(f"{writeback_type} {about}, webhook-id {key}")
        self.progress(f"wrote {writeback_type} {about}")
        return True

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
