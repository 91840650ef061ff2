"""Events in a given status, recorded through the store as the workers leave them."""

from __future__ import annotations

from store import ConnectionRecord, EventRecord, Store


def record(
    store: Store,
    connection: ConnectionRecord,
    status: str = "queued",
    *,
    event_type: str = "post.published",
    post_id: str = "crm-1",
    error: str = "gave up",
) -> EventRecord:
    data = {"post_id": post_id} if event_type == "post.published" else {}
    payload = {"type": event_type, "timestamp": "2026-11-23T10:00:00+00:00", "data": data}
    event, _ = store.record_event(connection_id=connection.id, type=event_type, payload=payload)
    if status == "dead":
        event = store.mark_dead(event.id, error, "permanent")
    elif status == "done":
        store.start_attempt(event.id, None, lease_seconds=20)
        event = store.mark_done(event.id)
    elif status == "waiting":
        store.park_connection(connection.id, "credentials refused")
        waited = store.mark_waiting(event.id, "connection parked")
        assert waited is not None
        event = waited
    return event
