"""The overview: per connection, its state, last success and last 24 hours; the queue; and
each location's GHL rate-limit headroom when the limiter has counted it.

`build_overview` reads everything the page shows in a fixed number of statements and Redis
round trips, whatever the number of events: the page refreshes itself every few seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from console.connection_state import ConnectionState, connection_state
from ghl.limiter import RateLimiter
from store import ConnectionStatus, EventStatus, GhlAuth, Store
from workers.celery_app import QUEUE

RECENT = dt.timedelta(hours=24)
STATUSES = tuple(status.value for status in EventStatus)


@dataclass(frozen=True)
class Headroom:
    """How many more GHL requests a location may send now (in the limiter's window) and
    today (UTC day), by the limiter's own count in Redis."""

    window_left: int
    window_limit: int
    window_seconds: float
    day_left: int
    day_limit: int


@dataclass(frozen=True)
class ConnectionOverview:
    id: str
    name: str
    location_id: str
    crm_kind: str
    state: ConnectionState
    # Whether GHL's install (OAuth) is what brings it back: the page links to it.
    needs_install: bool
    last_success: dt.datetime | None
    # Events created in the last 24 hours, by status (every status present, zeros included).
    recent: dict[str, int]
    # Waiting events of any age: they run once the connection is active again.
    waiting: int
    headroom: Headroom | None


@dataclass(frozen=True)
class QueueState:
    # Messages on the Celery queue; None when Redis did not answer.
    depth: int | None
    # Seconds since the event queued longest ago was queued; None when none is queued.
    oldest_queued_age: float | None


@dataclass(frozen=True)
class Overview:
    at: dt.datetime
    connections: list[ConnectionOverview]
    queue: QueueState
    # Totals of the last 24 hours over every connection, by status.
    recent_totals: dict[str, int]
    # Whether the GHL rate limiter is on (headroom is only known then).
    limiter_on: bool


def build_overview(
    store: Store,
    client: redis.Redis[bytes],
    limiter: RateLimiter | None,
    *,
    now: dt.datetime | None = None,
) -> Overview:
    """Everything the overview page shows, read now."""
    now = now or dt.datetime.now(dt.UTC)
    connections = store.list_connections()
    counts = store.event_counts_since(now - RECENT)
    last_done = store.last_done_by_connection()
    waiting = store.waiting_by_connection()
    oldest = store.oldest_queued_since()
    depth, headrooms = _read_redis(client, limiter, [c.location_id for c in connections])
    rows = [
        ConnectionOverview(
            id=c.id,
            name=c.name,
            location_id=c.location_id,
            crm_kind=c.crm_kind,
            state=connection_state(c),
            needs_install=c.ghl_auth == GhlAuth.OAUTH
            and c.status in (ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.DISCONNECTED),
            last_success=last_done.get(c.id),
            recent={status: counts.get((c.id, status), 0) for status in STATUSES},
            waiting=waiting.get(c.id, 0),
            headroom=headrooms.get(c.location_id),
        )
        for c in connections
    ]
    totals = {status: sum(r.recent[status] for r in rows) for status in STATUSES}
    return Overview(
        at=now,
        connections=rows,
        queue=QueueState(
            depth=depth,
            oldest_queued_age=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        ),
        recent_totals=totals,
        limiter_on=limiter is not None,
    )


def _read_redis(
    client: redis.Redis[bytes], limiter: RateLimiter | None, locations: Sequence[str]
) -> tuple[int | None, dict[str, Headroom]]:
    """The queue's depth and each location's headroom, in one pipelined round trip.

    The headroom is read, never taken: ZCOUNT of the location's slot log over the window
    ending now (slots booked ahead count, as the limiter counts them) and its daily counter,
    on Redis's clock (``TIME``) as the limiter's scripts use it. A location the limiter has
    never seen has neither key and gets no headroom: "not known" rather than a guess.
    """
    known = [loc for loc in dict.fromkeys(locations) if loc] if limiter is not None else []
    try:
        pipe = client.pipeline(transaction=False)
        pipe.llen(QUEUE)
        pipe.time()
        for location in known:
            assert limiter is not None
            log_key, daily_key, _ = limiter.keys(location)
            pipe.exists(log_key, daily_key)
            pipe.zrange(log_key, 0, -1, withscores=True)
            pipe.hmget(daily_key, "day", "used")
        answers = pipe.execute()
    except redis.RedisError:
        return None, {}
    depth = int(answers[0])
    seconds, micros = answers[1]
    now = seconds + micros / 1_000_000
    headrooms: dict[str, Headroom] = {}
    for index, location in enumerate(known):
        assert limiter is not None
        exists, slots, (day, used) = answers[2 + 3 * index : 5 + 3 * index]
        if not exists:
            continue
        in_window = sum(1 for _, at in slots if at > now - limiter.window)
        today = math.floor(now / 86400)
        used_today = int(used) if day is not None and int(day) == today and used else 0
        headrooms[location] = Headroom(
            window_left=max(0, limiter.limit - in_window),
            window_limit=limiter.limit,
            window_seconds=limiter.window,
            day_left=max(0, limiter.daily_limit - used_today),
            day_limit=limiter.daily_limit,
        )
    return depth, headrooms
