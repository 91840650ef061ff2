"""Run one recorded event through its flow and decide what happens next.

This is the bookkeeping around a flow (status, attempts, last error, parking a connection),
kept free of Celery so the CLI can run an event inline and tests can run it as a function.

The store owns what happens next: a failed attempt leaves the event `retrying` with its
`next_attempt_at`, and the recovery sweep (workers/sweeper.py) enqueues it when that comes.
A running attempt holds a lease it renews (workers/lease.py); an attempt that dies stops
renewing, and the sweep enqueues its event again within seconds. A message that finds its
event done, dead, not yet due or running elsewhere does nothing.

An event never dies because its connection cannot be used. While the connection is not
active (parked, needs_reauth, disconnected) its events are `waiting`, and the attempt that
finds the problem (credentials or a scope refused, settings the connector refuses) holds the
connection and waits too. Activating the connection or completing a re-authorization puts
them back on the queue in order (workers/release.py). The attempt that found the problem is
given back (`Store.mark_waiting`): an event may meet revoked credentials after every
re-authorization and still never run out of attempts for it.

Nor does an event spend attempts on GHL's rate limit. Every GHL request of an attempt takes a
slot of its location's limit (`ghl.limiter`, shared by every process through Redis). When none
comes within RATE_LIMIT_WAIT_IN_PROCESS, the attempt ends with `RateLimitDeferred` and is given
back: the event is `queued` again and its message re-sent, to the front of the queue, to run just
before the slot (`RateLimitDeferred.wake_in`), carrying the slots booked for that run
(``prepaid``), when the slot comes within the deferral horizon (two thirds of
BROKER_VISIBILITY_TIMEOUT); further, it is `retrying` with ``next_attempt_at`` half a horizon
before the slot (`_back_in`), and the recovery sweep sends it then to book it. The worker never
sleeps for such a slot beyond a short wait within RATE_LIMIT_WAIT_IN_PROCESS, so the events of
other locations go on meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from marshmallow import ValidationError

from ghl.errors import SYSTEM as GHL
from ghl.limiter import Booking, Gate, RateLimitDeferred, wake_early
from schemas.events import (
    POST_PUBLISHED,
    STATISTICS_REQUESTED,
    TAG_DETAILS_REQUESTED,
    CrmEvent,
    flatten_errors,
    load_event,
)
from socialbridge import metrics
from socialbridge.config import ConfigError
from socialbridge.errors import AuthError, PermanentError, RetryableError, ScopeError
from socialbridge.logs import bind, get_logger
from store import (
    ConnectionRecord,
    ConnectionStatus,
    ErrorKind,
    EventRecord,
    EventStatus,
    GhlAuth,
    StoreUnavailable,
    due_for_attempt,
)
from workers.dispatch import EnqueueError
from workers.flows import FLOWS, FlowContext
from workers.lease import LeaseKeeper
from workers.retry import retry_delay
from workers.services import Services
from workers.tag_cache import tag_cache_for

log = get_logger(__name__)

DONE, RETRY, DEAD, SKIPPED, WAITING = "done", "retry", "dead", "skipped", "waiting"
# The attempt was given back to wait for a GHL rate-limit slot; its message is sent again.
DEFERRED = "deferred"

# GHL requests an event of each type makes, until the rate limiter has learned it for the
# location (`ghl.limiter.RateLimiter.learn`): what the first run reserves, and a deferred run
# books. post.published: the post, and one page of tags.
EXPECTED_GHL_CALLS: dict[str, int] = {
    POST_PUBLISHED: 2,
    TAG_DETAILS_REQUESTED: 1,
    STATISTICS_REQUESTED: 2,
}

Requeue = Callable[[EventRecord, Booking, float], object]
"""Send an event's message again, to run in ``countdown`` seconds with this booking."""


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: `retry_in` seconds is set when status is "retry"; for
    "waiting", `error` is why the event waits (its connection's status and reason)."""

    status: str
    event: EventRecord | None
    error: str | None = None
    retry_in: float | None = None
    result: object = None


def execute_event(
    services: Services,
    event_id: str,
    *,
    payload: dict[str, Any] | None = None,
    task_id: str | None = None,
    retryable: tuple[type[BaseException], ...] = (),
    progress: Callable[[str], None] | None = None,
    rng: random.Random | None = None,
    now: dt.datetime | None = None,
    prepaid: Booking | None = None,
    requeue: Requeue | None = None,
) -> Outcome:
    """One attempt at an event. Store outages propagate as StoreUnavailable (nothing recorded).

    ``retryable`` names extra exception types (the task layer's soft time limit) that count as
    a retryable failure of the attempt.

    ``prepaid`` is the booking of rate-limit slots an earlier run left for this one; the slots
    are used by the first GHL requests. ``requeue`` sends the event's message again with a
    countdown; without it (a run outside Celery) an event deferred by the rate limiter is
    `retrying` until its slot.
    """
    store = services.store
    settings = services.settings
    # The event with its connection's version: the connection then comes from this process's
    # cache unless it changed (a SELECT and the decryption of its secrets saved per event).
    found = store.event_for_attempt(event_id)
    if found is None:
        log.warning("event.missing", event_id=event_id)
        return Outcome(SKIPPED, None, error="event not found")
    event, connection_version = found
    with bind(event_id=event.id, event_type=event.type, connection_id=event.connection_id):
        if not due_for_attempt(event, dt.datetime.now(dt.UTC)):
            # A redelivered or duplicated message: the event is done, dead, not yet due or
            # running elsewhere under a live lease. Nothing runs twice at once.
            log.info("event.not_due", status=event.status)
            _release(services, prepaid)
            return Outcome(SKIPPED, event)
        connection = store.connection_at(event.connection_id, connection_version)
        if connection is None:
            _release(services, prepaid)
            return _dead(services, event, "connection no longer exists", ErrorKind.PERMANENT)
        if not connection.is_active:
            usable = _wait_or_reread(services, event, connection)
            if isinstance(usable, Outcome):
                _release(services, prepaid)
                return usable
            connection = usable

        if event.attempts >= settings.max_attempts:
            _release(services, prepaid)
            # Only an attempt that never finished gets here (its worker died, or the hard time
            # limit killed it): the limit must hold for those too.
            before = f" (last error: {event.last_error})" if event.last_error else ""
            return _dead(
                services,
                event,
                f"gave up after {event.attempts} attempts: the last one never finished{before}",
                ErrorKind.RETRYABLE_EXHAUSTED,
            )
        # The lease's owner: the task, or for a run outside Celery (the CLI) an id of its own.
        task_id = task_id or f"inline-{secrets.token_hex(4)}"
        claimed = store.start_attempt(event.id, task_id, lease_seconds=settings.lease_seconds)
        if claimed is None:
            log.info("event.taken_elsewhere")
            _release(services, prepaid)
            return Outcome(SKIPPED, event)
        event = claimed
        log.info("event.started", attempt=event.attempts, task_id=task_id)
        try:
            crm_event = load_event(payload if payload is not None else event.payload)
        except ValidationError as exc:
            _release(services, prepaid)
            return _dead(
                services,
                event,
                f"invalid payload: {flatten_errors(exc.messages)}",
                ErrorKind.INVALID,
            )

        attempt = event.attempts

        def renew() -> bool:
            return store.renew_lease(
                event.id, task_id, lease_seconds=settings.lease_seconds, attempt=attempt
            )

        def owned(live_lease: bool) -> bool:
            return store.owns_attempt(event.id, task_id, attempt, live_lease=live_lease)

        clock = now or dt.datetime.now(dt.UTC)
        gate = services.ghl_gate(
            event.type, booking=prepaid, default_calls=EXPECTED_GHL_CALLS.get(event.type, 1)
        )
        # What the flow wrote back to the CRM, for the attempt's history.
        written: list[str] = []
        # TASK_TIME_LIMIT for every pool (the threads pool cannot kill): the lease stops being
        # renewed then, and a late attempt is fenced off by its number (workers/lease.py).
        with LeaseKeeper(
            renew,
            every=settings.lease_seconds / 3,
            time_limit=settings.task_time_limit,
            lease_seconds=settings.lease_seconds,
            owned=owned,
        ) as keeper:
            ran = _run_flow(
                services,
                event,
                connection,
                crm_event,
                gate=gate,
                retryable=retryable,
                progress=progress,
                now=clock,
                written=written,
            )
        if not isinstance(ran, RateLimitDeferred) and not keeper.still_ours():
            # The sweep gave the event to another attempt after this one's lease ran out:
            # that attempt records the outcome, not this late one.
            log.warning("event.attempt_overran", attempt=attempt)
            return Outcome(SKIPPED, store.get_event(event.id))
        if isinstance(ran, RateLimitDeferred):
            return _defer(services, event, task_id, ran, requeue, clock)
        if isinstance(ran, _Failure):
            return _after_failure(services, event, connection, ran, rng, clock)
        done = store.mark_done(event.id, writeback="; ".join(written) or None)
        metrics.event_done(done.type, done.created_at)
        log.info("event.done", attempt=done.attempts)
        return Outcome(DONE, done, result=ran)


def _wait_or_reread(
    services: Services, event: EventRecord, connection: ConnectionRecord
) -> Outcome | ConnectionRecord:
    """Before an attempt, for a connection that is not active: the event waits with it.

    The connection read again when it is active after all (activated a moment ago: run the
    event with what the activation stored).
    """
    store = services.store
    waiting = store.mark_waiting(event.id, _waiting_reason(connection))
    if waiting is not None:
        log.info("event.waiting", reason=waiting.last_error, connection_status=connection.status)
        return Outcome(WAITING, waiting, error=waiting.last_error)
    current = store.get_connection(event.connection_id)
    if current is None:
        return _dead(services, event, "connection no longer exists", ErrorKind.PERMANENT)
    if current.is_active:
        return current
    # The event changed under us (finished, or taken by an attempt elsewhere), or the
    # connection was activated and held again in between. Nothing is lost either way: a
    # queued or due event without a message is the recovery sweep's to send again.
    log.info("event.not_waitable")
    return Outcome(SKIPPED, store.get_event(event.id))


def _waiting_reason(connection: ConnectionRecord) -> str:
    """What a waiting event says: its connection's status and why."""
    reason = connection.status_reason
    return f"connection is {connection.status}" + (f": {reason}" if reason else "")


@dataclass(frozen=True)
class _Hold:
    """Stop the connection's work until someone fixes it: ``status`` (parked, or needs_reauth
    when re-authorizing is the fix) with ``reason``. Its events wait meanwhile."""

    status: str
    reason: str


@dataclass(frozen=True)
class _Failure:
    """How an attempt failed; `_after_failure` decides between retry, dead and waiting."""

    error: str
    kind: str  # an ErrorKind, or RETRYABLE for a failure worth another attempt
    server_delay: float | None = None
    unexpected: bool = False
    hold: _Hold | None = None  # the connection cannot be used: the event waits, never dies


RETRYABLE = "retryable"


def _run_flow(
    services: Services,
    event: EventRecord,
    connection: ConnectionRecord,
    crm_event: CrmEvent,
    *,
    gate: Gate | None,
    retryable: tuple[type[BaseException], ...],
    progress: Callable[[str], None] | None,
    now: dt.datetime,
    written: list[str],
) -> object:
    """The flow's result, a `_Failure` saying what went wrong, or the `RateLimitDeferred`
    that ended it (the booking it carries is the caller's to pass on or give back)."""
    completed = False
    try:
        result = _run_flow_once(
            services,
            event,
            connection,
            crm_event,
            gate=gate,
            retryable=retryable,
            progress=progress,
            now=now,
            written=written,
        )
        completed = not isinstance(result, (_Failure, RateLimitDeferred))
        return result
    finally:
        if gate is not None:
            # Unused slots go back; a run that finished teaches the limiter its calls.
            gate.close(completed=completed)


def _run_flow_once(
    services: Services,
    event: EventRecord,
    connection: ConnectionRecord,
    crm_event: CrmEvent,
    *,
    gate: Gate | None,
    retryable: tuple[type[BaseException], ...],
    progress: Callable[[str], None] | None,
    now: dt.datetime,
    written: list[str],
) -> object:
    with contextlib.ExitStack() as clients:
        try:
            ghl = clients.enter_context(services.ghl_for(connection, gate=gate))
            crm = services.crm_for(connection)
            clients.callback(crm.close)
        except (ValueError, ConfigError) as exc:
            # The connection itself is unusable (a CRM URL or secret the connector refuses):
            # every event would fail the same way, so park it until it is fixed.
            reason = f"connection cannot be used: {exc}"
            return _Failure(
                reason, ErrorKind.PERMANENT, hold=_Hold(ConnectionStatus.PARKED, reason)
            )
        ctx = FlowContext(
            connection=connection,
            event_id=event.id,
            ghl=ghl,
            crm=crm,
            store=services.store,
            now=now,
            replays=event.replays,
            progress=progress or (lambda _: None),
            tag_cache=tag_cache_for(services),
            written=written,
        )
        try:
            return FLOWS[crm_event.type](ctx, crm_event.data)
        except RateLimitDeferred as exc:
            return exc
        except RetryableError as exc:
            return _Failure(str(exc), RETRYABLE, server_delay=exc.retry_after)
        except AuthError as exc:
            # Every event of the connection would meet the same refusal: hold the connection
            # so that they wait for new credentials instead of failing one by one.
            return _Failure(str(exc), ErrorKind.AUTH, hold=_auth_hold(connection, exc))
        except PermanentError as exc:
            return _Failure(str(exc), ErrorKind.PERMANENT)
        except UnicodeError as exc:
            # Text that cannot be encoded fails the same way on every attempt.
            return _Failure(f"cannot encode the event's text: {exc}", ErrorKind.INVALID)
        except StoreUnavailable:
            raise
        except retryable as exc:
            return _Failure(f"timed out: {exc!r}", RETRYABLE)
        except Exception as exc:
            # An unexpected failure may be transient (a dropped DB connection); retry it
            # within its own small budget, and keep the traceback in the log.
            log.error("event.crashed", error=repr(exc), exc_info=True)
            return _Failure(f"unexpected error: {exc!r}", RETRYABLE, unexpected=True)


def _auth_hold(connection: ConnectionRecord, exc: AuthError) -> _Hold:
    """What refused credentials do to the connection.

    The CRM's (and anything but GHL's): parked, since no GHL authorization can fix them. GHL's:
    a Private Integration token is parked until a new one is given; an OAuth connection needs
    re-authorizing (its client has already refreshed once and retried once, and a refresh that
    failed for good has set needs_reauth already). A missing scope is named, since GHL's answer
    does not say which; only a new token or install that grants it helps.
    """
    if exc.system != GHL:
        return _Hold(ConnectionStatus.PARKED, f"credentials refused: {exc}")
    oauth = connection.ghl_auth == GhlAuth.OAUTH
    status = ConnectionStatus.NEEDS_REAUTH if oauth else ConnectionStatus.PARKED
    if isinstance(exc, ScopeError):
        lacking = f"scope {exc.scope}" if exc.scope else "a scope this call needs"
        remedy = (
            "install the app again to grant it"
            if oauth
            else "give the Private Integration that scope, then activate the connection"
        )
        return _Hold(status, f"the token lacks {lacking}; {remedy} ({exc})")
    return _Hold(status, f"credentials refused: {exc}")


def _after_failure(
    services: Services,
    event: EventRecord,
    connection: ConnectionRecord,
    failure: _Failure,
    rng: random.Random | None,
    now: dt.datetime,
) -> Outcome:
    if failure.hold is not None:
        return _hold_and_wait(services, event, connection, failure, rng, now)
    if failure.kind != RETRYABLE:
        return _dead(services, event, failure.error, failure.kind)
    settings = services.settings
    if failure.unexpected and event.unexpected_errors + 1 >= settings.unexpected_max_attempts:
        return _dead(
            services,
            event,
            f"gave up after {event.unexpected_errors + 1} unexpected errors: {failure.error}",
            ErrorKind.RETRYABLE_EXHAUSTED,
        )
    return _retry_or_die(
        services, event, failure.error, failure.server_delay, rng, now, failure.unexpected
    )


def _hold_and_wait(
    services: Services,
    event: EventRecord,
    connection: ConnectionRecord,
    failure: _Failure,
    rng: random.Random | None,
    now: dt.datetime,
) -> Outcome:
    """The attempt found the connection unusable: hold it, and the event waits with it.

    ``connection`` is what the attempt ran with. Held only while it is still active: one held
    already (the token keeper set needs_reauth, another attempt parked it) keeps its status and
    reason. Not held when it was fixed while this attempt ran (its settings or token changed,
    or an OAuth grant was saved since): the event is retried with the fix instead.
    """
    store = services.store
    hold = failure.hold
    assert hold is not None  # only called for a failure that holds
    current = store.get_connection(event.connection_id)
    if current is None:
        return _dead(services, event, "connection no longer exists", ErrorKind.PERMANENT)
    if not current.is_active:
        reason = _waiting_reason(current)
    elif hold.status == ConnectionStatus.NEEDS_REAUTH:
        if not store.mark_needs_reauth(
            current.id, hold.reason, generation=current.token_generation
        ):
            return _retry_or_die(services, event, failure.error, None, rng, now, False)
        log.error("connection.needs_reauth", reason=hold.reason)
        reason = f"connection is {hold.status}: {hold.reason}"
    elif _settings_of(current) != _settings_of(connection):
        return _retry_or_die(services, event, failure.error, None, rng, now, False)
    elif not store.park_connection(current.id, hold.reason, unchanged_since=current.updated_at):
        # Changed (fixed and activated?) since we looked: retry with what it is now.
        return _retry_or_die(services, event, failure.error, None, rng, now, False)
    else:
        log.error("connection.parked", reason=hold.reason)
        reason = f"connection is {hold.status}: {hold.reason}"
    waiting = store.mark_waiting(event.id, reason, attempt=event.task_id)
    if waiting is None:
        latest = store.get_event(event.id)
        if (
            latest is None
            or latest.task_id != event.task_id
            or latest.status != EventStatus.PROCESSING
        ):
            # This attempt lost its lease and the event went on without it.
            log.info("event.taken_elsewhere")
            return Outcome(SKIPPED, latest)
        # Activated again meanwhile, so there is nothing to wait for: run it again soon.
        return _retry_or_die(services, event, failure.error, None, rng, now, False)
    log.warning("event.waiting", reason=reason, attempts=waiting.attempts)
    return Outcome(WAITING, waiting, error=reason)


def _settings_of(connection: ConnectionRecord) -> tuple[object, ...]:
    """What an operator changes to fix a parked connection (compared, never logged).

    An OAuth connection's access token is left out: refreshes change it without anyone fixing
    anything.
    """
    return (
        connection.ghl_token if connection.ghl_auth == GhlAuth.PIT else None,
        connection.crm_kind,
        connection.crm_url,
        dict(connection.crm_settings),
        connection.mapping,
    )


def _retry_or_die(
    services: Services,
    event: EventRecord,
    error: str,
    server_delay: float | None,
    rng: random.Random | None,
    now: dt.datetime,
    unexpected: bool,
) -> Outcome:
    settings = services.settings
    if event.attempts >= settings.max_attempts:
        return _dead(
            services,
            event,
            f"gave up after {event.attempts} attempts: {error}",
            ErrorKind.RETRYABLE_EXHAUSTED,
        )
    delay = retry_delay(
        event.attempts,
        base=settings.retry_backoff_base,
        cap=settings.retry_backoff_max,
        server_delay=server_delay,
        rng=rng,
    )
    # The store owns the retry: the sweep enqueues the event once next_attempt_at comes, so
    # no delayed message waits in a worker's memory.
    updated = services.store.mark_retrying(
        event.id, error, now + dt.timedelta(seconds=delay), unexpected=unexpected
    )
    log.warning("event.retrying", attempt=event.attempts, retry_in=round(delay, 3), error=error)
    return Outcome(RETRY, updated, error=error, retry_in=delay)


def _defer(
    services: Services,
    event: EventRecord,
    task_id: str,
    deferred: RateLimitDeferred,
    requeue: Requeue | None,
    now: dt.datetime,
) -> Outcome:
    """The rate limiter has no slot for the attempt soon: give the attempt back.

    With a booking and a way to send the message again, the event is `queued` and its message
    sent to run at the slot with the booking. Otherwise (no booking: the slot is too far, or
    the day's budget is spent) it is `retrying` with next_attempt_at at the slot.
    """
    store = services.store
    booking = deferred.booking
    if booking is not None and requeue is not None:
        queued = store.defer_attempt(event.id, task_id, reason=str(deferred))
        if queued is None:
            _release(services, booking)
            log.info("event.taken_elsewhere")
            return Outcome(SKIPPED, store.get_event(event.id))
        try:
            requeue(queued, booking, deferred.wake_in(_wake_early(services)))
        except EnqueueError as exc:
            # Queued without a message: the sweep sends it again after QUEUED_LOST_AFTER.
            _release(services, booking)
            log.warning("event.requeue_failed", error=str(exc))
        log.info(
            "event.deferred",
            location_id=deferred.location_id,
            wait_s=round(deferred.wait, 3),
            booked=len(booking.slots),
            attempts=queued.attempts,
        )
        return Outcome(DEFERRED, queued, error=str(deferred), retry_in=deferred.wait)
    _release(services, booking)
    back_in = _back_in(deferred.wait, services.settings.rate_limit_defer_horizon)
    retrying = store.defer_attempt(
        event.id,
        task_id,
        reason=str(deferred),
        next_attempt_at=now + dt.timedelta(seconds=back_in),
    )
    if retrying is None:
        log.info("event.taken_elsewhere")
        return Outcome(SKIPPED, store.get_event(event.id))
    log.info(
        "event.deferred",
        location_id=deferred.location_id,
        wait_s=round(deferred.wait, 3),
        booked=0,
        back_in_s=round(back_in, 3),
        attempts=retrying.attempts,
    )
    return Outcome(RETRY, retrying, error=str(deferred), retry_in=back_in)


def _wake_early(services: Services) -> float:
    """How long before its slot a deferred run starts in this worker's pool."""
    settings = services.settings
    return wake_early(
        settings.rate_limit_wait_in_process, threads=settings.worker_pool == "threads"
    )


def _back_in(wait: float, horizon: float) -> float:
    """Seconds until an event deferred without a booking runs again, its slot ``wait`` away.

    At the slot, when it is within the deferral ``horizon`` (the daily budget, or no way to send
    the message again). A slot beyond the horizon is the limiter's backlog: the event comes
    back half a horizon before it, when the slot can be booked, and books it behind the
    bookings made meanwhile. Coming back at the slot itself, it would find every booking
    before it used and the location idle until the recovery sweep (every SWEEP_INTERVAL)
    sent it and its run booked again: slots lost in the middle of a burst.
    """
    return wait - horizon / 2 if wait > horizon else wait


def _release(services: Services, booking: Booking | None) -> None:
    """Give back the slots of a booking no run will use (best effort: they expire anyway)."""
    if booking is None:
        return
    limiter = services.ghl_limiter
    if limiter is None:
        return
    log.debug(
        "ghl.rate_limit.booking_unused",
        location_id=booking.location_id,
        slots_at=[round(slot.at, 3) for slot in booking.slots],
    )
    metrics.limiter_slots_given_back(metrics.SLOT_UNUSED, len(booking.slots))
    try:
        limiter.release(booking.location_id, booking.slots)
    except redis.RedisError as exc:
        log.warning("ghl.rate_limit.release_failed", error=repr(exc))


def _dead(services: Services, event: EventRecord, error: str, kind: str) -> Outcome:
    dead = services.store.mark_dead(event.id, error, kind)
    log.error("event.dead", attempt=dead.attempts, error=error, error_kind=kind)
    return Outcome(DEAD, dead, error=error)
