"""Run one recorded event through its flow and decide what happens next.

This is the bookkeeping around a flow (status, attempts, last error, parking a connection),
kept free of Celery so the CLI can run an event inline and tests can run it as a function.
The task layer turns an `Outcome` into an acknowledgement or a `retry(countdown=…)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from schemas.events import flatten_errors, load_event
from socialbridge.config import ConfigError
from socialbridge.errors import AuthError, PermanentError, RetryableError
from socialbridge.logs import bind, get_logger
from store import EventRecord, StoreUnavailable
from workers.flows import FLOWS, FlowContext
from workers.retry import retry_delay
from workers.services import Services

log = get_logger(__name__)

DONE, RETRY, DEAD, SKIPPED = "done", "retry", "dead", "skipped"


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: `retry_in` seconds is set when status is "retry"."""

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
) -> Outcome:
    """One attempt at an event. Store outages propagate as StoreUnavailable (nothing recorded).

    ``retryable`` names extra exception types (the task layer's soft time limit) that count as
    a retryable failure of the attempt.
    """
    store = services.store
    event = store.get_event(event_id)
    if event is None:
        log.warning("event.missing", event_id=event_id)
        return Outcome(SKIPPED, None, error="event not found")
    with bind(event_id=event.id, event_type=event.type, connection_id=event.connection_id):
        if event.status == "done":
            # A redelivery after the work finished (lost ack): nothing runs twice.
            log.info("event.already_done")
            return Outcome(SKIPPED, event)
        connection = store.get_connection(event.connection_id)
        if connection is None:
            return _dead(services, event, "connection no longer exists")
        if connection.status != "active":
            return _dead(
                services, event, f"connection is {connection.status}: {connection.status_reason}"
            )

        if event.attempts >= services.settings.max_attempts:
            # Only an attempt that never finished gets here (killed by the hard time limit, or
            # lost with its worker): the limit must hold for those too.
            before = f" (last error: {event.last_error})" if event.last_error else ""
            return _dead(
                services,
                event,
                f"gave up after {event.attempts} attempts: the last one never finished{before}",
            )
        event = store.start_attempt(event.id, task_id)
        log.info("event.started", attempt=event.attempts, task_id=task_id)
        try:
            crm_event = load_event(payload if payload is not None else event.payload)
        except ValidationError as exc:
            return _dead(services, event, f"invalid payload: {flatten_errors(exc.messages)}")

        clock = now or dt.datetime.now(dt.UTC)
        with contextlib.ExitStack() as clients:
            try:
                ghl = clients.enter_context(services.ghl_for(connection))
                crm = services.crm_for(connection)
                clients.callback(crm.close)
            except (ValueError, ConfigError) as exc:
                # The connection itself is unusable (a CRM URL or secret the connector refuses):
                # every event would fail the same way, so park it until it is fixed.
                reason = f"connection cannot be used: {exc}"
                return _park(services, event, reason, error=reason)
            ctx = FlowContext(
                connection=connection,
                event_id=event.id,
                ghl=ghl,
                crm=crm,
                store=store,
                now=clock,
                replays=event.replays,
                progress=progress or (lambda _: None),
            )
            try:
                result = FLOWS[crm_event.type](ctx, crm_event.data)
            except RetryableError as exc:
                return _retry_or_die(services, event, str(exc), exc.retry_after, rng, clock)
            except AuthError as exc:
                # A Private Integration token cannot be refreshed: park the connection so its
                # next events wait for new credentials instead of failing one by one.
                return _park(services, event, f"credentials refused: {exc}", error=str(exc))
            except PermanentError as exc:
                return _dead(services, event, str(exc))
            except StoreUnavailable:
                raise
            except retryable as exc:
                return _retry_or_die(services, event, f"timed out: {exc!r}", None, rng, clock)
            except Exception as exc:
                # An unexpected failure may be transient (a dropped DB connection); retry it
                # within the attempt limit, and keep the traceback in the log.
                log.error("event.crashed", error=repr(exc), exc_info=True)
                return _retry_or_die(
                    services, event, f"unexpected error: {exc!r}", None, rng, clock
                )

        done = store.mark_done(event.id)
        log.info("event.done", attempt=done.attempts)
        return Outcome(DONE, done, result=result)


def _retry_or_die(
    services: Services,
    event: EventRecord,
    error: str,
    server_delay: float | None,
    rng: random.Random | None,
    now: dt.datetime,
) -> Outcome:
    settings = services.settings
    if event.attempts >= settings.max_attempts:
        return _dead(services, event, f"gave up after {event.attempts} attempts: {error}")
    delay = retry_delay(
        event.attempts,
        base=settings.retry_backoff_base,
        cap=settings.retry_backoff_max,
        server_delay=server_delay,
        rng=rng,
    )
    updated = services.store.mark_retrying(event.id, error, now + dt.timedelta(seconds=delay))
    log.warning("event.retrying", attempt=event.attempts, retry_in=round(delay, 3), error=error)
    return Outcome(RETRY, updated, error=error, retry_in=delay)


def _park(services: Services, event: EventRecord, reason: str, *, error: str) -> Outcome:
    """Park the event's connection (its next events wait for a fix) and end this event."""
    services.store.park_connection(event.connection_id, reason)
    log.error("connection.parked", reason=reason)
    return _dead(services, event, error)


def _dead(services: Services, event: EventRecord, error: str) -> Outcome:
    dead = services.store.mark_dead(event.id, error)
    log.error("event.dead", attempt=dead.attempts, error=error)
    return Outcome(DEAD, dead, error=error)
