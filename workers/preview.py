"""`mappings preview`: what a CRM body becomes, and what the connector would send, unsent.

The body goes through the receiver's own step (`workers.intake.event_from_body`), and the
event through its real flow: GHL is read as for a real event, but the flow runs with a store
that keeps nothing and a connector that only says what it would send
(`CRMConnector.preview`, built by the same code as `write`). Nothing is recorded, nothing is
enqueued, nothing reaches the CRM.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crm.connector import CRMConnector, OutgoingRequest, WriteBack
from schemas.events import CrmEvent, dump_event
from socialbridge.errors import IntegrationError, RetryableError
from store import ConnectionRecord, PostRecord, SnapshotRecord
from workers.flows import FLOWS, FlowContext
from workers.intake import BodyInvalid, event_from_body
from workers.services import Services

# A preview is a person waiting at a terminal: a short wait for GHL's rate limit, a few times,
# and then the answer as it stands.
PREVIEW_ATTEMPTS = 3
PREVIEW_MAX_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class WritePreview:
    writeback: WriteBack
    requests: list[OutgoingRequest]
    error: str | None = None


@dataclass(frozen=True)
class EventPreview:
    event: dict[str, Any] | None
    errors: dict[str, list[str]]
    writes: list[WritePreview] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and all(write.error is None for write in self.writes)


def preview_event(
    services: Services,
    connection: ConnectionRecord,
    body: Any,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> EventPreview:
    """Map ``body`` as the receiver would and run its flow without storing or sending.

    When GHL asks to wait (429, or another retryable answer with a delay) before anything
    was written, the preview waits as a worker would and runs the flow again, up to
    `PREVIEW_ATTEMPTS` times and `PREVIEW_MAX_WAIT_SECONDS` a wait: running it again is
    harmless, since it keeps and sends nothing.
    """
    now = dt.datetime.now(dt.UTC)
    try:
        event = event_from_body(connection, body, received_at=now).event
    except BodyInvalid as exc:
        return EventPreview(event=None, errors=exc.errors, note="the body makes no valid event")

    crm = services.crm_for(connection)
    try:
        for attempt in range(1, PREVIEW_ATTEMPTS + 1):
            recorder = _PreviewConnector(crm)
            try:
                _run(services, connection, event, recorder, now)
            except IntegrationError as exc:
                if recorder.writes:
                    break  # the write's own refusal is in its WritePreview
                wait = _wait_for(exc)
                if wait is None or attempt == PREVIEW_ATTEMPTS:
                    return EventPreview(
                        event=dump_event(event),
                        errors={},
                        note=f"the flow stopped before writing: {exc}",
                    )
                sleep(wait)
            else:
                break
    finally:
        crm.close()
    return EventPreview(
        event=dump_event(event),
        errors={},
        writes=recorder.writes,
        note="GHL was read; nothing was stored and nothing was sent to the CRM",
    )


def _run(
    services: Services,
    connection: ConnectionRecord,
    event: CrmEvent,
    recorder: _PreviewConnector,
    now: dt.datetime,
) -> None:
    with services.ghl_for(connection) as ghl:
        ctx = FlowContext(
            connection=connection,
            event_id="evt_preview",
            ghl=ghl,
            crm=recorder,
            store=_UnsavedStore(now),
            now=now,
        )
        FLOWS[event.type](ctx, event.data)


def _wait_for(error: IntegrationError) -> float | None:
    """Seconds to wait before running the flow again, or None: do not."""
    if not isinstance(error, RetryableError) or error.retry_after is None:
        return None
    if error.retry_after > PREVIEW_MAX_WAIT_SECONDS:
        return None
    return max(error.retry_after, 0.0)


class _PreviewConnector:
    """Takes the flow's write-backs and asks the real connector what it would send."""

    def __init__(self, inner: CRMConnector) -> None:
        self.inner = inner
        self.writes: list[WritePreview] = []

    def write(self, writeback: WriteBack) -> None:
        try:
            requests = self.inner.preview(writeback)
        except IntegrationError as exc:
            self.writes.append(WritePreview(writeback, [], error=str(exc)))
        else:
            self.writes.append(WritePreview(writeback, requests))

    def preview(self, writeback: WriteBack) -> list[OutgoingRequest]:
        return self.inner.preview(writeback)

    def check(self) -> str:
        return self.inner.check()

    def close(self) -> None:
        """The inner connector is closed by preview_event."""


class _UnsavedStore:
    """The flows' store for a preview: returns what would be kept, keeps nothing."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

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
    ) -> PostRecord:
        return self._post(connection_id, crm_post_id, location_id, tags, post_tags, [])

    def save_tag_details(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        details: list[dict[str, Any]],
    ) -> PostRecord:
        return self._post(connection_id, crm_post_id, location_id, [], [], details)

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
    ) -> SnapshotRecord:
        return SnapshotRecord(
            id="snp_preview",
            connection_id=connection_id,
            location_id=location_id,
            start_date=start_date,
            end_date=end_date,
            profile_ids=profile_ids,
            totals=totals,
            platforms=platforms,
            daily=daily,
            day_range=day_range,
            created_at=self.now,
            updated_at=self.now,
        )

    def _post(
        self,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        tags: list[dict[str, Any]],
        post_tags: list[dict[str, Any]],
        details: list[dict[str, Any]],
    ) -> PostRecord:
        return PostRecord(
            connection_id=connection_id,
            crm_post_id=crm_post_id,
            location_id=location_id,
            ghl_post_id=None,
            title=None,
            tags=tags,
            post_tags=post_tags,
            tag_details=details,
            snapshot_id=None,
            created_at=self.now,
            updated_at=self.now,
        )
