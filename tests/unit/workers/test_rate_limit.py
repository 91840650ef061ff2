"""execute_event under the shared GHL rate limiter: deferral without spending an attempt.

A real store, the sandboxes in process and the real limiter on the tests' Redis. The limiter's
window is one second here so that a deferred event's slot comes within a test.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ghl.limiter import WAKE_EARLY_SECONDS, Booking, RateLimiter
from ghl.ratelimit import RateLimit
from sandbox.ghl import DEFAULT_LOCATION
from socialbridge import metrics
from store import EventRecord
from tests.unit.workers.conftest import Bridge
from workers.dispatch import EnqueueError
from workers.execution import DEFERRED, DONE, RETRY, SKIPPED, execute_event
from workers.services import Services

LIMIT = 10
WINDOW = 1.0


@dataclass
class Requeued:
    """Stands for the task layer's `enqueue_event` with a countdown; records what it was given."""

    calls: list[tuple[EventRecord, Booking, float]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, event: EventRecord, booking: Booking, countdown: float) -> None:
        if self.fail:
            raise EnqueueError("the broker is away")
        self.calls.append((event, booking, countdown))


@pytest.fixture
def limited(bridge: Bridge, redis_url: str) -> Iterator[Services]:
    """The bridge's services with the rate limiter on (10 requests per second per location)."""
    settings = bridge.settings.replace(
        redis_url=redis_url,
        ghl_rate_limit=LIMIT,
        ghl_rate_window_seconds=WINDOW,
        rate_limit_wait_in_process=0.3,
    )
    services = Services(
        settings,
        store=bridge.store,
        ghl_transport=bridge.services.ghl_transport,
        crm_transport=bridge.services.crm_transport,
        rate_limiter=True,
    )
    yield services
    limiter = services.ghl_limiter
    assert limiter is not None
    limiter.redis.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every in-process wait for a slot, as the limiter reports it to the metrics."""
    waits: list[float] = []
    monkeypatch.setattr(metrics, "limiter_waited", lambda seconds, **_: waits.append(seconds))
    return waits


def limiter_of(services: Services) -> RateLimiter:
    limiter = services.ghl_limiter
    assert limiter is not None
    return limiter


def fill(limiter: RateLimiter, location: str = DEFAULT_LOCATION) -> None:
    """Take every slot of the location's current window."""
    while limiter.reserve(location, horizon=0).reserved:
        pass


def ghl_requests(bridge: Bridge) -> list[str]:
    return [entry["path"] for entry in bridge.journal("/social-media-posting/")]


def test_the_limiter_is_off_unless_asked_for_an_in_process_ghl(bridge: Bridge) -> None:
    assert bridge.services.ghl_limiter is None
    assert bridge.services.ghl_gate("post.published") is None


def test_a_zero_limit_turns_the_limiter_off(bridge: Bridge, redis_url: str) -> None:
    settings = bridge.settings.replace(redis_url=redis_url, ghl_rate_limit=0)

    assert Services(settings, rate_limiter=True).ghl_limiter is None


def test_an_event_with_slots_runs_as_always(bridge: Bridge, limited: Services) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})

    outcome = execute_event(limited, event.id, task_id="t-1", requeue=Requeued())

    assert outcome.status == DONE
    held = [m for m, _ in limiter_of(limited).used(DEFAULT_LOCATION) if m.startswith("h:")]
    assert len(held) == 1


def test_a_deferred_event_is_queued_again_without_spending_an_attempt(
    bridge: Bridge, limited: Services, sleeps: list[float]
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    fill(limiter_of(limited))
    requeued = Requeued()

    outcome = execute_event(limited, event.id, task_id="t-1", requeue=requeued)

    assert outcome.status == DEFERRED
    assert outcome.event is not None
    assert outcome.event.status == "queued"
    assert outcome.event.attempts == 0
    assert outcome.event.lease_expires_at is None
    assert outcome.retry_in == pytest.approx(WINDOW, abs=0.2)
    [(sent, booking, countdown)] = requeued.calls
    assert sent.id == event.id
    assert booking.location_id == DEFAULT_LOCATION
    assert len(booking.slots) == 1
    # Sent to start a little before its slot (half the in-process wait of 0.3 s here), to
    # claim its booking and wait the rest in-process.
    assert limited.settings.worker_pool == "threads"
    assert countdown == pytest.approx(WINDOW - min(WAKE_EARLY_SECONDS, 0.15), abs=0.1)
    # Nothing reached GHL, and the worker did not sleep for the slot.
    assert ghl_requests(bridge) == []
    assert sleeps == []
    # The attempt's history says it was given back for a slot.
    [attempt] = bridge.store.attempts_of(event.id)
    assert (attempt.number, attempt.task_id, attempt.outcome) == (1, "t-1", "deferred")
    assert attempt.error == outcome.error


def test_in_a_prefork_worker_a_deferred_event_is_sent_for_its_slot_itself(
    bridge: Bridge, limited: Services
) -> None:
    # A process waiting for a slot would be taken from every other location's events.
    prefork = Services(
        limited.settings.replace(worker_pool="prefork"),
        store=bridge.store,
        ghl_transport=bridge.services.ghl_transport,
        crm_transport=bridge.services.crm_transport,
        rate_limiter=True,
    )
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    fill(limiter_of(prefork))
    requeued = Requeued()

    execute_event(prefork, event.id, task_id="t-1", requeue=requeued)

    [(_, booking, countdown)] = requeued.calls
    assert countdown == pytest.approx(booking.first - limiter_of(prefork).now(), abs=0.05)
    limiter_of(prefork).redis.close()


def test_the_next_run_uses_the_prepaid_slot_once(bridge: Bridge, limited: Services) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    limiter = limiter_of(limited)
    fill(limiter)
    requeued = Requeued()
    execute_event(limited, event.id, task_id="t-1", requeue=requeued)
    [(_, booking, countdown)] = requeued.calls
    before = len(limiter.used(DEFAULT_LOCATION))
    time.sleep(countdown)

    outcome = execute_event(limited, event.id, task_id="t-2", prepaid=booking, requeue=requeued)

    assert outcome.status == DONE
    assert outcome.event is not None
    assert outcome.event.attempts == 1
    assert len(requeued.calls) == 1
    assert len(ghl_requests(bridge)) == 1
    # The booked slot was used: not one more was taken.
    log = limiter.used(DEFAULT_LOCATION)
    assert len(log) == before
    assert "h" + booking.slots[0].member[1:] in {member for member, _ in log}


def test_a_deferral_in_the_middle_of_an_event_gives_the_attempt_back(
    bridge: Bridge, limited: Services
) -> None:
    # statistics.requested: the accounts, then the statistics. A slot for the first only.
    connection = bridge.connection()
    event = bridge.record(connection, "statistics.requested", {})
    limiter = limiter_of(limited)
    for _ in range(LIMIT - 1):
        limiter.reserve(DEFAULT_LOCATION, horizon=0)
    requeued = Requeued()

    outcome = execute_event(limited, event.id, task_id="t-1", requeue=requeued)

    assert outcome.status == DEFERRED
    assert outcome.event is not None
    assert outcome.event.attempts == 0
    assert outcome.event.status == "queued"
    assert [path.rsplit("/", 1)[-1] for path in ghl_requests(bridge)] == ["accounts"]
    # The next run repeats the accounts: two slots are booked for it.
    [(_, booking, _)] = requeued.calls
    assert len(booking.slots) == 2


def test_a_slot_beyond_the_horizon_leaves_the_event_retrying_until_it_can_be_booked(
    bridge: Bridge, limited: Services
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    limiter = limiter_of(limited)
    # GHL refused with a Retry-After of two minutes: beyond the 40 s of deferral horizon.
    limiter.observe(
        DEFAULT_LOCATION, RateLimit(max=100, remaining=0), status=429, retry_after=120.0
    )
    requeued = Requeued()

    began = dt.datetime.now(dt.UTC)
    outcome = execute_event(limited, event.id, task_id="t-1", requeue=requeued)

    assert outcome.status == RETRY
    assert requeued.calls == []
    assert outcome.event is not None
    assert outcome.event.status == "retrying"
    assert outcome.event.attempts == 0
    assert outcome.event.next_attempt_at is not None
    # Back half a deferral horizon (20 s) before the slot, to book it behind the bookings made
    # meanwhile, instead of at the slot, when the location would have run out of them.
    horizon = limited.settings.rate_limit_defer_horizon
    waited = (outcome.event.next_attempt_at - began).total_seconds()
    assert waited == pytest.approx(120.0 - horizon / 2, abs=5.0)
    assert "rate limit" in (outcome.event.last_error or "")
    # Nothing booked for it.
    assert not any(member.startswith("b:") for member, _ in limiter.used(DEFAULT_LOCATION))


def test_without_a_queue_a_deferred_event_retries_through_the_store(
    bridge: Bridge, limited: Services
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    limiter = limiter_of(limited)
    fill(limiter)

    outcome = execute_event(limited, event.id, task_id="inline")

    assert outcome.status == RETRY
    assert outcome.event is not None
    assert outcome.event.status == "retrying"
    assert outcome.event.attempts == 0
    assert not any(member.startswith("b:") for member, _ in limiter.used(DEFAULT_LOCATION))


def test_a_message_that_cannot_be_sent_again_leaves_the_event_to_the_sweep(
    bridge: Bridge, limited: Services
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    limiter = limiter_of(limited)
    fill(limiter)

    outcome = execute_event(limited, event.id, task_id="t-1", requeue=Requeued(fail=True))

    assert outcome.status == DEFERRED
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert stored.status == "queued"
    assert stored.attempts == 0
    # Its booking is given back.
    assert not any(member.startswith("b:") for member, _ in limiter.used(DEFAULT_LOCATION))


def test_a_booking_brought_by_a_stale_message_is_given_back(
    bridge: Bridge, limited: Services
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    assert execute_event(limited, event.id, task_id="t-1").status == DONE
    limiter = limiter_of(limited)
    booked = limiter.reserve(DEFAULT_LOCATION, horizon=60, kind="b")

    outcome = execute_event(
        limited, event.id, task_id="t-2", prepaid=Booking(DEFAULT_LOCATION, booked.slots)
    )

    assert outcome.status == SKIPPED
    assert booked.slots[0].member not in {m for m, _ in limiter.used(DEFAULT_LOCATION)}


def test_a_busy_location_does_not_hold_up_another(
    bridge: Bridge, limited: Services, sleeps: list[float]
) -> None:
    busy = bridge.connection()
    bridge.add_location("loc_quiet", "pit-quiet", tags=5)
    quiet = bridge.connection(location_id="loc_quiet", ghl_token="pit-quiet")
    limiter = limiter_of(limited)
    fill(limiter)
    waiting = bridge.record(busy, "tag.details_requested", {"post_id": "p", "tag_ids": ["x"]})
    other = bridge.record(quiet, "tag.details_requested", {"post_id": "q", "tag_ids": ["y"]})

    first = execute_event(limited, waiting.id, task_id="t-1", requeue=Requeued())
    second = execute_event(limited, other.id, task_id="t-2", requeue=Requeued())

    assert first.status == DEFERRED
    assert second.status == DONE
    # Neither slept for the busy location's slot, a second away.
    assert sleeps == []


def test_a_finished_event_teaches_the_limiter_its_calls(bridge: Bridge, limited: Services) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "statistics.requested", {})

    assert execute_event(limited, event.id, task_id="t-1").status == DONE

    limiter = limiter_of(limited)
    hints = limiter.redis.hgetall(limiter.keys(DEFAULT_LOCATION)[2])
    assert hints == {b"statistics.requested": b"2"}
