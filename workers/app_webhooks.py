"""GHL's app webhooks on the queue: what an INSTALL or an UNINSTALL changes.

    task_id = enqueue_app_webhook(celery, event)        # the receiver (webapp/ghl_webhooks.py)
    outcome = process_app_webhook(store, payload)       # the task; plain, tested without Celery

    UNINSTALL of a location    every OAuth connection of that location `disconnected` (tokens
                               deleted), reason "GHL UNINSTALL at <timestamp>"
    UNINSTALL of an agency     its agency grant deleted, and every OAuth connection of that
    (no locationId)            company disconnected likewise
    INSTALL                    nothing changes: the install completes through
                               /oauth/ghl/callback, which holds the code. The outcome says
                               which OAuth connections the location has, or how to add one.

Every webhook ends with `Store.finish_app_event` and its outcome, readable in the app event log.

Run twice (a redelivered message, the same webhook enqueued by two deliveries that raced), it
changes nothing more: an event already processed is skipped, and a connection already without
tokens is left as it is. A connection whose tokens were saved after the UNINSTALL reached us
is left alone too: it was installed again while the webhook waited on the queue, and its new
grant is not the one GHL took away.

The receiver enqueues before it records (so that a failed enqueue leaves nothing behind for
GHL's retry to be refused as a duplicate); this task therefore records the webhook itself when
it finds no record yet. Only JSON crosses the broker: the webhook's payload exactly as GHL sent
it, loaded again here through `schemas.ghl_app`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from celery import Celery, Task, shared_task
from marshmallow import ValidationError

from schemas.ghl_app import INSTALL, UNINSTALL, AppWebhookEvent, app_event_errors, load_app_event
from socialbridge.logs import bind, get_logger
from store import (
    ConnectionRecord,
    ConnectionStatus,
    GhlAppEventRecord,
    NotFound,
    Store,
    StoreUnavailable,
)
from workers.dispatch import EnqueueError
from workers.retry import retry_delay
from workers.services import Services
from workers.tasks import TASK_OPTIONS

log = get_logger(__name__)

TASK_NAME = "ghl.app_webhook"
TASK_ID_PREFIX = "ghlapp-"
# As `workers.tasks`: while the store is down the message carries the retry, with short
# countdowns so that no delayed message waits long in a worker's memory.
STORE_DOWN_RETRY_MAX = 5.0
# Task ids stay readable in Flower; a webhookId is an opaque id of GHL's, cut to this much.
_TASK_ID_WEBHOOK_CHARS = 64


def uninstall_reason(event: AppWebhookEvent) -> str:
    """The status reason of a connection that GHL's UNINSTALL disconnected."""
    return f"GHL UNINSTALL at {event.timestamp.isoformat()}"


def enqueue_app_webhook(celery: Celery, event: AppWebhookEvent) -> str:
    """Put a verified app webhook on the queue; EnqueueError when the broker did not take it."""
    task_id = f"{TASK_ID_PREFIX}{event.webhook_id[:_TASK_ID_WEBHOOK_CHARS]}-{secrets.token_hex(4)}"
    try:
        result: Any = celery.send_task(TASK_NAME, args=[event.raw], task_id=task_id)
    except Exception as exc:  # kombu/redis raise many types; all mean "not enqueued"
        raise EnqueueError(f"could not enqueue app webhook {event.webhook_id}: {exc!r}") from exc
    return str(result.id)


def record_app_webhook(store: Store, event: AppWebhookEvent) -> tuple[GhlAppEventRecord, bool]:
    """Record the webhook in the app event log; ``(record, False)`` when it was recorded before."""
    return store.record_app_event(
        event.webhook_id,
        type=event.type,
        location_id=event.location_id,
        company_id=event.company_id,
        payload=event.raw,
    )


def process_app_webhook(store: Store, payload: dict[str, Any]) -> str:
    """Do what the app webhook in ``payload`` asks, once; return its outcome as recorded.

    Raises StoreUnavailable (the caller retries) and nothing else for an outage of the store.
    """
    try:
        event = load_app_event(payload)
    except ValidationError as exc:
        # The receiver verified and loaded this very payload: only a change of the schema
        # between releases could refuse it now. Nothing to record it under without its id.
        outcome = f"invalid: {app_event_errors(exc)}"
        log.error("ghl_app.invalid", outcome=outcome)
        return outcome
    with bind(webhook_id=event.webhook_id, app_event=event.type):
        record, _ = record_app_webhook(store, event)
        if record.processed_at is not None:
            log.info("ghl_app.already_processed", outcome=record.outcome)
            return record.outcome or ""
        if event.type == UNINSTALL:
            outcome = _uninstall(store, event, record)
        elif event.type == INSTALL:
            outcome = _install(store, event)
        else:
            outcome = f"ignored: socialbridge acts on {INSTALL} and {UNINSTALL} only"
        store.finish_app_event(event.webhook_id, outcome)
        log.info("ghl_app.processed", outcome=outcome)
        return outcome


def _locations(event: AppWebhookEvent) -> list[str]:
    """The locations an event names: its locationId, or those of a bulk install."""
    named = [event.location_id] if event.location_id else []
    return list(dict.fromkeys([*named, *event.location_ids]))


def _uninstall(store: Store, event: AppWebhookEvent, record: GhlAppEventRecord) -> str:
    reason = uninstall_reason(event)
    locations = _locations(event)
    parts: list[str] = []
    if locations:
        connections = _unique(
            connection
            for location_id in locations
            for connection in store.oauth_connections(location_id=location_id)
        )
        whom = f"location {', '.join(locations)}"
    else:
        # _names_whom in the schema: without a location, an UNINSTALL names its company.
        company_id = event.company_id or ""
        deleted = store.delete_agency(company_id)
        parts.append(
            f"agency grant of {company_id} deleted"
            if deleted
            else f"no agency grant of {company_id} was stored"
        )
        connections = store.oauth_connections(company_id=company_id)
        whom = f"company {company_id}"
    disconnected: list[str] = []
    untouched: list[str] = []
    for connection in connections:
        if not connection.has_ghl_token:
            untouched.append(f"{_name(connection)} had no tokens already")
        elif _reinstalled_since(connection, record):
            untouched.append(
                f"{_name(connection)} left connected: installed again after this UNINSTALL came"
            )
        else:
            try:
                store.disconnect_connection(connection.id, reason)
            except NotFound:
                continue  # removed meanwhile: nothing left to disconnect
            disconnected.append(_name(connection))
            log.info(
                "connection.disconnected",
                connection_id=connection.id,
                location_id=connection.location_id,
                reason=reason,
            )
    if disconnected:
        parts.append(f"disconnected {', '.join(disconnected)}")
    parts.extend(untouched)
    if not connections:
        parts.append(f"no OAuth connection of {whom}")
    return f"{event.type} of {whom}: " + "; ".join(parts)


def _reinstalled_since(connection: ConnectionRecord, record: GhlAppEventRecord) -> bool:
    """Active, and changed after the UNINSTALL reached us: a new install, not the one removed.

    Both times are our own clock's, so GHL's clock does not enter into it. An inactive
    connection changed meanwhile (a refresh refused since the uninstall) is disconnected.
    """
    return (
        connection.status == ConnectionStatus.ACTIVE and connection.updated_at > record.received_at
    )


def _install(store: Store, event: AppWebhookEvent) -> str:
    locations = _locations(event)
    if not locations:
        company_id = event.company_id or ""
        connections = store.oauth_connections(company_id=company_id)
        found = ", ".join(_described(c) for c in connections) or "none yet"
        return (
            f"{INSTALL} of company {company_id} recorded; OAuth connections of it: {found}. "
            "Its locations connect through /oauth/ghl/start?agency=1"
        )
    described: list[str] = []
    for location_id in locations:
        connections = store.oauth_connections(location_id=location_id)
        if connections:
            found = ", ".join(_described(c) for c in connections)
            described.append(f"location {location_id}: {found}")
        else:
            described.append(
                f"location {location_id} has no OAuth connection (add one with: socialbridge "
                f"connections add --auth oauth --location-id {location_id} ...)"
            )
    return (
        f"{INSTALL} recorded; the install itself completes through /oauth/ghl/callback. "
        + "; ".join(described)
    )


def _unique(connections: Iterable[ConnectionRecord]) -> list[ConnectionRecord]:
    return list({connection.id: connection for connection in connections}.values())


def _name(connection: ConnectionRecord) -> str:
    return f"{connection.name} ({connection.id})"


def _described(connection: ConnectionRecord) -> str:
    return f"{connection.name} ({connection.id}, {connection.status})"


# Celery ships no type information: its decorator is untyped.
@shared_task(name=TASK_NAME, **TASK_OPTIONS)
def handle_app_webhook(self: Task, payload: dict[str, Any]) -> str:
    """Process one GHL app webhook (thin: `process_app_webhook` does the work)."""
    services: Services = self.app.services
    try:
        return process_app_webhook(services.store, payload)
    except StoreUnavailable as exc:
        countdown = retry_delay(self.request.retries + 1, base=1.0, cap=STORE_DOWN_RETRY_MAX)
        raise self.retry(countdown=countdown, exc=exc) from exc
