"""The event log for the console: a filtered list in pages, and one event with what it did
(`event_detail`: the event page, `GET /api/events/<id>` and `socialbridge events show`).

The page's query string comes in as text and is read here (`read_filter`), so that the
views only hand over `request.args` and render what comes back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES
from store import (
    AttemptRecord,
    ConnectionRecord,
    CrmWriteRecord,
    EventRecord,
    EventStatus,
    PostRecord,
    Store,
)
from store.event_queries import EventCursor, EventFilter

PAGE_SIZE = 50
STATUSES = tuple(status.value for status in EventStatus)
# The time fields of the filter form (an HTML datetime-local input), read as UTC.
TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
CURSOR_SEPARATOR = "~"


@dataclass(frozen=True)
class FilterForm:
    """The filter as read from the query string: what the store is asked, the form's values
    to show again, and a message per field that could not be read (that field is ignored)."""

    where: EventFilter
    after: EventCursor | None
    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    events: list[EventRecord]
    # The names of the events' connections, by id (an event shows its connection's name).
    names: dict[str, str]
    # The cursor of the next (older) page, or None on the last page.
    next_cursor: str | None


@dataclass(frozen=True)
class EventDetail:
    event: EventRecord
    connection: ConnectionRecord | None
    # The write ledger's entries of this event's runs (connectors that keep one: email).
    writes: list[CrmWriteRecord]
    # The post record a post event wrote (its tags and tag details), when there is one.
    post: PostRecord | None
    # Whether the event may be replayed now (done or dead).
    replayable: bool
    # The payload as indented JSON, for reading.
    payload_text: str
    # Every attempt, in the order they started (none for events from before the history).
    attempts: list[AttemptRecord] = field(default_factory=list)
    # Whether it waits on its backoff, so that "retry now" may send it at once.
    retry_now: bool = False
    # Whether it waits for its connection to be active again (activating releases it).
    waits_for_connection: bool = False


def read_filter(args: Mapping[str, str], connections: list[ConnectionRecord]) -> FilterForm:
    """The filter of the events page from its query string (connection, type, status, from,
    to, after); unknown values are reported, not guessed."""
    values = {key: (args.get(key) or "").strip() for key in ("connection", "type", "status")}
    values["from"] = (args.get("from") or "").strip()
    values["to"] = (args.get("to") or "").strip()
    problems: dict[str, str] = {}
    by_id = {c.id: c for c in connections}
    connection_id: str | None = values["connection"] or None
    if connection_id is not None and connection_id not in by_id:
        problems["connection"] = "no such connection"
        connection_id = None
    event_type = values["type"] or None
    if event_type is not None and event_type not in EVENT_TYPES:
        problems["type"] = "expected one of " + ", ".join(EVENT_TYPES)
        event_type = None
    status = values["status"] or None
    if status is not None and status not in STATUSES:
        problems["status"] = "expected one of " + ", ".join(STATUSES)
        status = None
    created_from = _read_time(values["from"], "from", problems)
    created_to = _read_time(values["to"], "to", problems)
    after = read_cursor(args.get("after") or "")
    return FilterForm(
        where=EventFilter(
            connection_id=connection_id,
            type=event_type,
            status=status,
            created_from=created_from,
            created_to=created_to,
        ),
        after=after,
        values=values,
        problems=problems,
    )


def event_page(store: Store, form: FilterForm, *, size: int = PAGE_SIZE) -> EventPage:
    """One page of events matching the filter, newest first, and where the next page starts."""
    found = store.find_events(form.where, after=form.after, limit=size + 1)
    events = found[:size]
    next_cursor = write_cursor(events[-1]) if len(found) > size else None
    names = {c.id: c.name for c in store.list_connections()}
    return EventPage(events=events, names=names, next_cursor=next_cursor)


def event_detail(store: Store, event_id: str) -> EventDetail | None:
    """One event with its connection, its attempts, its writes and its post record; None if
    unknown."""
    event = store.get_event(event_id)
    if event is None:
        return None
    post_id = _post_id(event)
    return EventDetail(
        event=event,
        connection=store.get_connection(event.connection_id),
        writes=store.writes_of_event(event.connection_id, event.id),
        post=None if post_id is None else store.get_post(event.connection_id, post_id),
        replayable=event.status in (EventStatus.DONE, EventStatus.DEAD),
        payload_text=json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False),
        attempts=store.attempts_of(event.id),
        retry_now=event.status == EventStatus.RETRYING,
        waits_for_connection=event.status == EventStatus.WAITING,
    )


def write_cursor(event: EventRecord) -> str:
    return f"{event.created_at.isoformat()}{CURSOR_SEPARATOR}{event.id}"


def read_cursor(text: str) -> EventCursor | None:
    """The cursor `write_cursor` wrote; None for an empty or garbled one (the first page)."""
    created, separator, event_id = text.partition(CURSOR_SEPARATOR)
    if not separator or not event_id:
        return None
    try:
        created_at = dt.datetime.fromisoformat(created)
    except ValueError:
        return None
    if created_at.tzinfo is None:
        return None
    return EventCursor(created_at=created_at, id=event_id)


def _read_time(text: str, name: str, problems: dict[str, str]) -> dt.datetime | None:
    if not text:
        return None
    for pattern in TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    problems[name] = "expected a date and time as YYYY-MM-DDTHH:MM (UTC)"
    return None


def _post_id(event: EventRecord) -> str | None:
    """The CRM's post id of a post event (its payload's data.post_id), if it has one."""
    data = event.payload.get("data", event.payload)
    post_id = data.get("post_id") if isinstance(data, dict) else None
    return post_id if isinstance(post_id, str) else None
